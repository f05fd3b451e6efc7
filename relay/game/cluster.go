package game

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// coordinator is the relay.Game of a room whose members may sit on several
// relay nodes (Config.Claims is set: the broker's relay.GameClaims). Every
// node with members in the room has one; exactly one of them referees a
// running game: the one whose coordinator holds the room's claim (a
// lease). It runs the real referee, whose players are the room's members
// on every node. The others pass their members' commands, chat, joins and
// leaves to it as game inputs, refuse non-drawers' frames from what they
// saw of the game (view), and watch that the referee is alive: if it has
// been silent for the claim's TTL and its claim is gone, they tell their
// own members the game is over.
//
// Goroutines: none while no game runs and nothing is being claimed. A
// start claims in one goroutine (one at a time per room), a release and a
// take-over each run in one, every one bounded by the broker's request
// timeout; the lease's renewal and the watchdog are timers.
//
// Locking: mu guards plain state only. Nothing is called while holding
// it: not the referee, not the room, not the claims. The referee calls the
// coordinator (ended, mayStart) while holding its own mutex, so the order
// is always referee.mu, then mu.
type coordinator struct {
	// Static after construction.
	room   relay.GameRoom
	claims relay.GameClaims
	ref    *referee
	log    *slog.Logger
	node   string
	ttl    time.Duration
	ctx    context.Context // ends with Close: claims in flight give up
	cancel context.CancelFunc

	mu       sync.Mutex // guards everything below
	closed   bool
	claiming bool        // a start is claiming the room
	taking   bool        // a handed-over game is being taken over
	lease    *lease      // this node holds the room's claim
	view     view        // a game refereed on another node
	watchdog *time.Timer // while view.running: fires when the referee has been silent for ttl
	suspects []string    // players with no connection in the room at the last renewal
}

// lease is this node's claim on the room. Guarded by coordinator.mu.
type lease struct {
	rev    uint64      // the claim's revision
	fresh  bool        // claimed for a start that has not begun yet
	timer  *time.Timer // renews the claim every ttl/3
	lastOK time.Time   // the last successful claim or renewal
}

var _ relay.Game = (*coordinator)(nil)

func newCoordinator(room relay.GameRoom, claims relay.GameClaims, cfg *Config) *coordinator {
	c := &coordinator{
		room:   room,
		claims: claims,
		node:   claims.Node(),
		ttl:    claims.TTL(),
		log:    cfg.Logger.With("room", room.Name(), "node", claims.Node()),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.ref = newReferee(clusterRoom{room}, cfg)
	c.ref.ended = c.gameEnded
	c.ref.mayStart = c.takeFresh
	return c
}

// leased reports whether this node holds the room's claim.
func (c *coordinator) leased() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lease != nil
}

// elsewhere returns whether a game runs on another node as far as this
// node knows, and the node refereeing it ("" when not known yet).
func (c *coordinator) elsewhere() (running bool, referee string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lease == nil && c.view.running, c.view.referee
}

// Command handles start and stop. A start claims the room (see start); a
// stop goes to the referee, wherever it is.
func (c *coordinator) Command(p relay.Player, cmd relay.GameCommand) error {
	if !p.Plays() && (cmd.Action == ActionStart || cmd.Action == ActionStop) {
		return errNotSeated("only players may start or stop a game")
	}
	if cmd.Action == ActionStart {
		return c.start(p, cmd)
	}
	if c.leased() || cmd.Action != ActionStop {
		return c.ref.Command(p, cmd) // this node referees, or an unknown action
	}
	running, to := c.elsewhere()
	if !running {
		return noGame()
	}
	c.send(&input{Op: opCommand, To: to, P: toWire(p), Action: cmd.Action})
	return nil
}

// Chat: during a game refereed elsewhere every line goes to the referee,
// which relays it, keeps it to those who guessed, or turns it into
// guessed.
func (c *coordinator) Chat(p relay.Player, text string) (bool, error) {
	if c.leased() {
		return c.ref.Chat(p, text)
	}
	running, to := c.elsewhere()
	if !running {
		return false, nil
	}
	c.send(&input{Op: opChat, To: to, P: toWire(p), Text: text})
	return true, nil
}

// AllowFrame lets only the drawer publish during a turn.
func (c *coordinator) AllowFrame(p relay.Player) bool {
	c.mu.Lock()
	if c.lease == nil {
		defer c.mu.Unlock()
		return c.view.allows(p)
	}
	c.mu.Unlock()
	return c.ref.AllowFrame(p)
}

// Joined tells the referee, wherever it is: it answers a member who joins
// during a game with start and turn.
func (c *coordinator) Joined(p relay.Player) {
	if c.leased() {
		c.ref.Joined(p)
		return
	}
	c.send(&input{Op: opJoined, P: toWire(p)})
}

// Left tells the referee, wherever it is.
func (c *coordinator) Left(p relay.Player) {
	if c.leased() {
		c.ref.Left(p)
		return
	}
	c.send(&input{Op: opLeft, P: toWire(p)})
}

// Close: the room has no member left on this node. A game this node
// referees goes on elsewhere if the room still has members there (it is
// handed over), or ends.
func (c *coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	l := c.lease
	c.lease = nil
	if l != nil && l.timer != nil {
		l.timer.Stop()
	}
	c.stopWatchdogLocked()
	c.mu.Unlock()
	c.cancel()
	if l != nil {
		c.handOver(l.rev)
	}
	c.ref.Close()
}

// Input takes a game input from the room's game on any node.
func (c *coordinator) Input(data []byte) {
	in, err := decodeInput(data)
	if err != nil {
		c.log.Debug("dropped a game input", "err", err)
		return
	}
	if in.Node == c.node {
		return // our own, back through the broker
	}
	switch in.Op {
	case opAlive:
		c.heard(in.Node)
		return
	case opHandover:
		c.takeOver(in)
		return
	}
	c.mu.Lock()
	mine := !c.closed && (in.To == c.node || in.To == "" && c.lease != nil)
	c.mu.Unlock()
	if !mine {
		return
	}
	p := in.P.player()
	switch in.Op {
	case opJoined:
		if c.ref.running() {
			c.sendAlive() // so that the joiner's node knows where to send its chat
		}
		c.ref.joinedAsync(p)
	case opLeft:
		c.ref.Left(p)
	case opCommand:
		if in.Action == ActionStart {
			return // a start is claimed on the starter's node, never passed on
		}
		c.answer(p, c.ref.Command(p, relay.GameCommand{Action: in.Action, Rounds: in.Rounds, Seconds: in.Seconds}))
	case opChat:
		handled, err := c.ref.Chat(p, in.Text)
		switch {
		case err != nil:
			c.answer(p, err)
		case !handled:
			c.room.RelayChat(p, in.Text, nil)
		}
	}
}

// answer sends a refusal to p, on whichever node it is.
func (c *coordinator) answer(p relay.Player, err error) {
	if err == nil {
		return
	}
	var ge *relay.GameError
	if !errors.As(err, &ge) {
		if errors.Is(err, errUnclaimed) {
			err = alreadyRunning()
		} else {
			c.log.Error("game", "err", err)
			err = &relay.GameError{Code: relay.CodeInternal, Message: "the game failed to handle this"}
		}
		errors.As(err, &ge)
	}
	c.room.SendTo(p.Conn, relay.GameErrorEvent(ge.Code, ge.Message))
}

// Observe follows a game refereed on another node from its events.
func (c *coordinator) Observe(event []byte) {
	var ev seenEvent
	if err := json.Unmarshal(event, &ev); err != nil || ev.Type != relay.TypeGame {
		return
	}
	c.mu.Lock()
	if c.closed || c.lease != nil {
		c.mu.Unlock()
		return // this node referees: the events are its own
	}
	started, turn := c.view.observe(&ev)
	if c.view.running {
		c.armWatchdogLocked(c.ttl)
	} else {
		c.stopWatchdogLocked()
	}
	c.mu.Unlock()
	if turn {
		c.room.DropLocalFrames() // the referee cleared the layers; frames queued here go too
	}
	if started {
		c.announceMissing(ev.Players)
	}
}

// announceMissing tells the referee again about local members a new game
// does not list: they joined while it started, and the referee had not
// heard of them yet (presence and joined inputs cross nodes a little
// later than the start). The referee then adds them, as late joiners.
func (c *coordinator) announceMissing(players []PlayerInfo) {
	in := make(map[string]bool, len(players))
	for _, p := range players {
		in[p.Client] = true
	}
	for _, p := range seated(c.room.Players()) {
		if !in[p.Client] {
			c.send(&input{Op: opJoined, P: toWire(p)}) // each connection: each gets start and turn
		}
	}
}

// send publishes a game input from this node.
func (c *coordinator) send(in *input) {
	in.Node = c.node
	c.room.SendInput(mustJSON(in))
}

func (c *coordinator) sendAlive() {
	c.mu.Lock()
	var rev uint64
	if c.lease != nil {
		rev = c.lease.rev
	}
	c.mu.Unlock()
	c.send(&input{Op: opAlive, Rev: rev})
}
