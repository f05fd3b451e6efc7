package game

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// The claim's life on the node that referees:
//
//	start from a local member ─► Claim (a KV create) ─ taken ─► "already running"
//	                                   │ ok
//	                                   ▼
//	          alive input, then the referee's start event; renew every ttl/3 (+ alive)
//	                                   │
//	      game over ─► Release    room empties here ─► handover input ─► another node renews it and goes on
//	                                   │
//	      renewal refused, or none for a whole ttl ─► the game ends here, told to local members only
//
// And on the others: each alive or game event re-arms a watchdog of ttl; when it
// fires, the claim is read: gone means the referee died, and this node's
// members get over with the scores as this node last saw them.

// claimRetries bound how long a start waits for a claim that is still held
// by a game this node has not seen running: one that just ended (its
// release is on its way) or that just started elsewhere.
const (
	claimRetries    = 4
	claimRetryDelay = 50 * time.Millisecond // doubled at each retry: 750 ms in all
)

// start begins a game with this node as the referee, if it can claim the
// room. The claim is a network call: it runs in its own goroutine, and the
// starter hears of a refusal by an error event.
func (c *coordinator) start(p relay.Player, cmd relay.GameCommand) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return badRequest("the room is closing")
	case c.lease != nil:
		c.mu.Unlock()
		err := c.ref.Command(p, cmd) // "already running", or the referee's own checks
		if errors.Is(err, errUnclaimed) {
			err = alreadyRunning()
		}
		return err
	case c.view.running:
		c.mu.Unlock()
		return alreadyRunning()
	case c.claiming:
		c.mu.Unlock()
		return badRequest("a game is being started in this room")
	}
	c.mu.Unlock()
	if _, _, _, err := checkStart(cmd, seated(c.room.AllPlayers())); err != nil {
		return err // no claim for a start that cannot begin
	}
	c.mu.Lock()
	if c.claiming || c.closed {
		c.mu.Unlock()
		return badRequest("a game is being started in this room")
	}
	c.claiming = true
	c.mu.Unlock()
	go c.claimAndStart(p, cmd)
	return nil
}

func (c *coordinator) claimAndStart(p relay.Player, cmd relay.GameCommand) {
	rev, ok, err := c.claim()
	c.mu.Lock()
	c.claiming = false
	if err == nil && ok && c.closed {
		c.mu.Unlock()
		c.release(rev)
		return
	}
	if err != nil || !ok {
		closed := c.closed
		c.mu.Unlock()
		switch {
		case closed:
			// The room emptied here while claiming: nobody to answer.
		case err != nil:
			c.log.Warn("game claim failed", "err", err)
			c.answer(p, &relay.GameError{Code: relay.CodeInternal, Message: "the game could not be started (the cluster did not answer); try again"})
		default:
			c.answer(p, alreadyRunning())
		}
		return
	}
	l := &lease{rev: rev, fresh: true, lastOK: time.Now()}
	c.lease = l
	c.suspects = nil
	c.stopWatchdogLocked()
	c.view.reset()
	c.armRenewalLocked(l, c.ttl/3)
	c.mu.Unlock()
	c.sendAlive() // before the start event: the others learn who referees
	if err := c.ref.Command(p, cmd); err != nil {
		c.mu.Lock()
		unused := c.lease == l && l.fresh
		if unused {
			c.lease = nil
			l.timer.Stop()
		}
		c.mu.Unlock()
		if unused {
			c.release(l.rev)
		}
		c.answer(p, err)
	}
}

// claim claims the room, waiting a little for a claim that is held by a
// game this node has not seen running.
func (c *coordinator) claim() (uint64, bool, error) {
	delay := claimRetryDelay
	for attempt := 0; ; attempt++ {
		rev, ok, err := c.claims.Claim(c.ctx, c.room.Name())
		if err != nil || ok || attempt == claimRetries {
			return rev, ok, err
		}
		if running, _ := c.elsewhere(); running {
			return 0, false, nil
		}
		select {
		case <-c.ctx.Done():
			return 0, false, c.ctx.Err()
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// takeFresh is the referee's mayStart: a game may begin only under a claim
// made for it, once.
func (c *coordinator) takeFresh() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lease == nil || !c.lease.fresh {
		return false
	}
	c.lease.fresh = false
	return true
}

// gameEnded is the referee's ended hook: the claim goes.
func (c *coordinator) gameEnded() {
	c.mu.Lock()
	l := c.lease
	c.lease = nil
	if l != nil {
		l.timer.Stop()
	}
	c.mu.Unlock()
	if l != nil {
		c.release(l.rev)
	}
}

// release deletes the claim at rev, in the background (it is a network
// call, and the game may end under the referee's lock).
func (c *coordinator) release(rev uint64) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.ttl)
		defer cancel()
		if err := c.claims.Release(ctx, c.room.Name(), rev); err != nil {
			c.log.Warn("game claim not released; it expires within the TTL", "err", err)
		}
	}()
}

func (c *coordinator) armRenewalLocked(l *lease, d time.Duration) {
	if l.timer == nil {
		l.timer = time.AfterFunc(d, func() { c.renew(l) })
		return
	}
	l.timer.Reset(d)
}

// renew is the lease's timer: it renews the claim, and tells the others
// the referee is alive. A claim that is refused, or that could not be
// renewed for a whole TTL, is lost: the other nodes have ended the game
// already (or will), so it ends here for local members only.
func (c *coordinator) renew(l *lease) {
	c.mu.Lock()
	if c.lease != l {
		c.mu.Unlock()
		return
	}
	rev := l.rev
	c.mu.Unlock()
	next, ok, err := c.claims.Renew(c.ctx, c.room.Name(), rev)
	now := time.Now()
	c.mu.Lock()
	if c.lease != l {
		// The game ended meanwhile and released rev; the renewal made
		// next, which nobody would release.
		c.mu.Unlock()
		if err == nil && ok {
			c.release(next)
		}
		return
	}
	switch {
	case err == nil && ok:
		l.rev, l.lastOK = next, now
		c.armRenewalLocked(l, c.ttl/3)
		c.mu.Unlock()
		c.sendAlive()
		c.reconcile()
		return
	case err != nil && now.Sub(l.lastOK) < c.ttl:
		c.log.Warn("game claim not renewed; retrying", "err", err)
		c.armRenewalLocked(l, c.ttl/10)
		c.mu.Unlock()
		return
	}
	c.lease = nil
	c.mu.Unlock()
	c.log.Warn("game claim lost: the game ends here", "err", err)
	if over := c.ref.abort("claim lost"); over != nil {
		c.room.BroadcastLocal(over)
	}
}

// reconcile takes out of the game the players that have had no connection
// in the room, as presence knows it, at two renewals in a row: their node
// died without a word (a node that leaves cleanly sends left inputs). Two
// in a row, because a joined input may come before the joiner's presence.
func (c *coordinator) reconcile() {
	absent := c.ref.absent(c.room.AllPlayers())
	c.mu.Lock()
	before := c.suspects
	c.suspects = absent
	c.mu.Unlock()
	for _, client := range absent {
		if slices.Contains(before, client) {
			c.ref.gone(client)
		}
	}
}

// handOver gives a game this node referees to the nodes still in the room,
// or ends it if there are none. Called by Close, without mu.
func (c *coordinator) handOver(rev uint64) {
	st := c.ref.export()
	if st == nil || len(c.room.AllPlayers()) == 0 {
		c.release(rev)
		return
	}
	c.log.Info("handing the game over", "turn", st.Turn)
	c.send(&input{Op: opHandover, Rev: rev, State: st})
}

// takeOver tries to go on with a game handed over by its referee: the
// first node to renew the claim at the handed-over revision wins.
func (c *coordinator) takeOver(in *input) {
	c.mu.Lock()
	if c.closed || c.lease != nil || c.taking {
		c.mu.Unlock()
		return
	}
	c.taking = true
	c.mu.Unlock()
	go func() {
		rev, ok, err := c.claims.Renew(c.ctx, c.room.Name(), in.Rev)
		c.mu.Lock()
		c.taking = false
		if err != nil || !ok || c.closed {
			c.mu.Unlock()
			if err == nil && ok {
				c.release(rev)
			}
			return
		}
		l := &lease{rev: rev, lastOK: time.Now()}
		c.lease = l
		c.suspects = nil
		c.stopWatchdogLocked()
		c.view.reset()
		c.armRenewalLocked(l, c.ttl/3)
		c.mu.Unlock()
		if err := c.ref.adopt(in.State); err != nil {
			c.log.Warn("handed-over game not taken", "err", err)
			c.gameEnded()
			return
		}
		c.sendAlive()
	}()
}

// heard notes an alive input from the referee on node.
func (c *coordinator) heard(node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.lease != nil {
		return
	}
	c.view.referee = node
	if c.view.running {
		c.armWatchdogLocked(c.ttl)
	}
}

func (c *coordinator) armWatchdogLocked(d time.Duration) {
	if c.watchdog == nil {
		c.watchdog = time.AfterFunc(d, c.checkReferee)
		return
	}
	c.watchdog.Reset(d)
}

func (c *coordinator) stopWatchdogLocked() {
	if c.watchdog != nil {
		c.watchdog.Stop()
		c.watchdog = nil
	}
}

// checkReferee is the watchdog: the referee has been silent for a TTL.
// If its claim is gone, it died: this node's members get over, with the
// scores as this node last saw them, and a new game can start. Otherwise
// it looks again shortly.
func (c *coordinator) checkReferee() {
	c.mu.Lock()
	if c.closed || c.lease != nil || !c.view.running {
		c.mu.Unlock()
		return
	}
	w := c.watchdog
	c.mu.Unlock()
	holder, err := c.claims.Holder(c.ctx, c.room.Name())
	c.mu.Lock()
	if c.closed || c.lease != nil || !c.view.running || c.watchdog != w {
		c.mu.Unlock()
		return
	}
	if err != nil || holder != "" {
		if holder != "" {
			c.view.referee = holder
		}
		c.armWatchdogLocked(c.ttl / 10)
		c.mu.Unlock()
		return
	}
	over := c.view.over()
	gone := c.view.referee
	c.view.reset()
	c.stopWatchdogLocked()
	c.mu.Unlock()
	c.log.Warn("game over: its referee is gone", "referee", gone)
	c.room.BroadcastLocal(over)
}
