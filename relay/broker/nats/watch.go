package natsbroker

import (
	"context"
	"fmt"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// The watch: one per broker, on the whole presence bucket. It keeps
// Broker.remote, turns changes into presence events for local members, and
// tells Join when its own write has come back.

// watchLoop keeps a watch on the whole presence bucket, and starts a new one
// after a reconnect or a failure.
func (b *Broker) watchLoop() {
	defer b.loops.Done()
	for {
		err := b.watchOnce()
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			b.log.Debug("presence watch ended", "err", err)
			select {
			case <-b.ctx.Done():
				return
			case <-b.restartWatch:
			case <-time.After(b.cfg.ReconnectWait):
			}
		}
	}
}

func (b *Broker) watchOnce() error {
	if !b.nc.IsConnected() {
		return ErrDisconnected
	}
	w, err := b.kv.WatchAll(b.ctx)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer func() {
		// The watcher's handler blocks while its channel is full: drain it
		// until the stopped subscription closes it, so nothing is left stuck.
		_ = w.Stop()
		timeout := time.NewTimer(b.cfg.RequestTimeout)
		defer timeout.Stop()
		for {
			select {
			case _, ok := <-w.Updates():
				if !ok {
					return
				}
			case <-timeout.C:
				return
			}
		}
	}()
	var initial []jetstream.KeyValueEntry
	initDone := false
	for {
		select {
		case <-b.ctx.Done():
			return nil
		case <-b.restartWatch:
			b.ready.Store(false)
			return nil
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				b.ready.Store(false)
				return fmt.Errorf("watch: %w", ErrDisconnected)
			case e == nil:
				initDone = true
				b.reconcile(initial)
				initial = nil
			case !initDone:
				initial = append(initial, e)
			default:
				b.apply(e)
			}
		}
	}
}

// apply takes one change of the bucket.
func (b *Broker) apply(e jetstream.KeyValueEntry) {
	defer b.markApplied(e.Revision(), false)
	room, node, ok := splitPresenceKey(e.Key())
	if e.Key() == b.aliveKey() || (ok && node == b.cfg.NodeID) {
		b.lastEcho.Store(time.Now().UnixNano()) // the watch is keeping up
		return
	}
	if !ok {
		return
	}
	var members []relay.Member
	present := e.Operation() == jetstream.KeyValuePut
	if present {
		var err error
		if members, err = decodeMembers(e.Value()); err != nil {
			b.log.Debug("bad presence value", "key", e.Key(), "err", err)
			return
		}
	}
	b.mu.Lock()
	p := b.setRemoteLocked(room, node, members, present, time.Now())
	b.mu.Unlock()
	p.deliver()
}

// reconcile takes the bucket's current values (a new watch's initial
// values) into what this node knows of the other nodes. A key deleted since
// is dropped at once. A key that is simply missing (the bucket was lost in a
// NATS restart, or expired while this node could not hear) is given a new
// TTL instead: its node, if alive, writes it again at its first heartbeat
// after reconnecting, and then nothing changes for local members; if it is
// dead, the sweep drops it. So a NATS restart does not make every member
// leave and join again.
func (b *Broker) reconcile(entries []jetstream.KeyValueEntry) {
	type rn struct{ room, node string }
	now := time.Now()
	cur := make(map[rn]*remoteEntry, len(entries))
	deleted := make(map[rn]bool)
	var maxRev uint64
	var ownStale []string
	for _, e := range entries {
		maxRev = max(maxRev, e.Revision())
		room, node, ok := splitPresenceKey(e.Key())
		if !ok {
			continue
		}
		if e.Operation() != jetstream.KeyValuePut {
			deleted[rn{room, node}] = true
			continue
		}
		if node == b.cfg.NodeID {
			ownStale = append(ownStale, e.Key())
			continue
		}
		ms, err := decodeMembers(e.Value())
		if err != nil {
			continue
		}
		// The server's time of the write: a key of a node that died just
		// before this watch still expires on time.
		seen := e.Created()
		if seen.After(now) {
			seen = now
		}
		cur[rn{room, node}] = &remoteEntry{members: ms, seen: seen}
	}
	var batches []presenceBatch
	b.mu.Lock()
	for room, byNode := range b.remote {
		for node, e := range byNode {
			k := rn{room, node}
			switch {
			case deleted[k]:
				batches = append(batches, b.setRemoteLocked(room, node, nil, false, now))
			case cur[k] == nil:
				e.seen = now
			case cur[k].seen.Before(e.seen):
				cur[k].seen = e.seen
			}
		}
	}
	for k, e := range cur {
		batches = append(batches, b.setRemoteLocked(k.room, k.node, e.members, true, e.seen))
	}
	// Our own keys of rooms we no longer have are left from before (a
	// restart under the same node id, or an outage): delete them.
	stale := ownStale[:0]
	for _, key := range ownStale {
		room, _, _ := splitPresenceKey(key)
		if rs := b.rooms[room]; rs == nil || len(rs.members) == 0 {
			stale = append(stale, key)
			b.staleKeys[key] = struct{}{}
		}
	}
	b.mu.Unlock()
	for _, p := range batches {
		p.deliver()
	}
	b.lastEcho.Store(now.UnixNano())
	b.markApplied(maxRev, true)
	if len(stale) > 0 {
		signal(b.reconnected) // the heartbeat loop deletes them
	}
}

// markApplied records that the watch has applied revision rev. reset sets
// it even if lower (a new watch after a NATS restart that lost the bucket)
// and marks the watch ready.
func (b *Broker) markApplied(rev uint64, reset bool) {
	b.revMu.Lock()
	defer b.revMu.Unlock()
	if reset {
		b.applied = rev
		b.ready.Store(true)
	} else if rev > b.applied {
		b.applied = rev
	} else {
		return
	}
	close(b.revCh)
	b.revCh = make(chan struct{})
}

// waitApplied waits until the watch is ready and has applied rev, or ctx
// ends.
func (b *Broker) waitApplied(ctx context.Context, rev uint64) {
	for {
		b.revMu.Lock()
		done, ch := b.applied >= rev && b.ready.Load(), b.revCh
		b.revMu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}
