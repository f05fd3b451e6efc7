package natsbroker

import (
	"context"
	"time"
)

// The heartbeat: one goroutine per broker, its one timer.

// aliveKey is rewritten by every heartbeat, even with no rooms, so that the
// node sees its own writes come back through the watch (see sweep).
func (b *Broker) aliveKey() string { return "node." + escapeToken(b.cfg.NodeID) + ".alive" }

// heartbeatLoop is the broker's one timer: every PresenceTTL/6 it drops the
// other nodes' keys not rewritten within 5/6 of the TTL, and every other
// tick it rewrites this node's keys. After a reconnect it makes sure the
// stream and the bucket exist, restarts the watch and rewrites at once.
func (b *Broker) heartbeatLoop() {
	defer b.loops.Done()
	tick := b.cfg.PresenceTTL / 6
	t := time.NewTicker(tick)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-b.ctx.Done():
			return
		case <-b.reconnected:
			ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
			if err := b.ensure(ctx); err != nil {
				b.log.Warn("after reconnect", "err", err)
			}
			b.restoreIdentityKey(ctx)
			cancel()
			signal(b.restartWatch)
			b.heartbeat()
		case now := <-t.C:
			b.sweep(now)
			if n%2 == 0 {
				b.heartbeat()
			}
		}
	}
}

// heartbeat rewrites this node's alive key and presence keys, and deletes
// the keys of rooms that emptied while NATS was unreachable.
func (b *Broker) heartbeat() {
	if !b.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
	_, err := b.kv.Put(ctx, b.aliveKey(), nil)
	cancel()
	if err != nil {
		b.log.Debug("heartbeat", "err", err)
	}
	b.mu.Lock()
	rooms := make([]*roomState, 0, len(b.rooms))
	for _, rs := range b.rooms {
		if len(rs.members) > 0 {
			rs.busy++
			rooms = append(rooms, rs)
		}
	}
	stale := make([]string, 0, len(b.staleKeys))
	for k := range b.staleKeys {
		stale = append(stale, k)
	}
	b.mu.Unlock()
	for _, rs := range rooms {
		if b.ctx.Err() == nil {
			if _, err := b.writePresence(b.ctx, rs); err != nil {
				b.log.Debug("heartbeat", "room", rs.name, "err", err)
			}
		}
		b.mu.Lock()
		rs.busy--
		b.maybeDropLocked(rs)
		b.mu.Unlock()
	}
	for _, key := range stale {
		room, _, _ := splitPresenceKey(key)
		b.mu.Lock()
		rs := b.rooms[room]
		live := rs != nil && len(rs.members) > 0
		if !live {
			delete(b.staleKeys, key)
		}
		b.mu.Unlock()
		if live || b.ctx.Err() != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
		if err := b.kv.Delete(ctx, key); err != nil {
			b.log.Debug("delete stale presence", "key", key, "err", err)
		}
		cancel()
	}
}

// sweep drops the other nodes' entries not rewritten within 5/6 of the TTL:
// their node is gone. It does nothing while this node cannot judge: while it
// cannot hear the others, and while its own heartbeat has not come back
// through the watch within half the TTL (the watch lags: this node, or its
// path to NATS, is overloaded).
func (b *Broker) sweep(now time.Time) {
	if !b.nc.IsConnected() || !b.ready.Load() {
		return
	}
	if lag := now.Sub(time.Unix(0, b.lastEcho.Load())); lag > b.cfg.PresenceTTL/2 {
		b.log.Debug("no sweep: the presence watch lags", "lag", lag)
		return
	}
	limit := b.cfg.PresenceTTL - b.cfg.PresenceTTL/6
	var batches []presenceBatch
	b.mu.Lock()
	for room, byNode := range b.remote {
		for node, e := range byNode {
			if now.Sub(e.seen) > limit {
				b.log.Info("node gone from room: no heartbeat", "room", room, "gone", node, "members", len(e.members))
				batches = append(batches, b.setRemoteLocked(room, node, nil, false, now))
			}
		}
	}
	b.mu.Unlock()
	for _, p := range batches {
		p.deliver()
	}
}
