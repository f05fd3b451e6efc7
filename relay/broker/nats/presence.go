package natsbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// Presence: each node writes one key per room it has members in,
// "<room>.<node>", whose value lists those members. The bucket's TTL drops a
// key that is not rewritten; the node's heartbeat rewrites its keys every
// PresenceTTL/3. Every node watches the whole bucket and keeps the other
// nodes' lists. A room's count is its local members plus those lists.
//
// Other nodes' joins and leaves reach local members as presence events made
// from the changes of those lists: a member that appears is a join, one that
// disappears (a leave, a deleted key, or a key not refreshed within the TTL
// because its node died) is a leave. So counts converge after a node dies,
// after a NATS outage, and after a partition heals.

// remoteEntry is another node's members in one room.
type remoteEntry struct {
	members []relay.Member
	seen    time.Time // when the key was last written, as far as this node knows
}

// presenceValue is a presence key's value.
type presenceValue struct {
	Members []presenceMember `json:"m"`
}

type presenceMember struct {
	Conn   string `json:"c"`
	Client string `json:"l"`
	Name   string `json:"n"`
}

func encodeMembers(ms map[string]relay.Member) []byte {
	v := presenceValue{Members: make([]presenceMember, 0, len(ms))}
	for _, m := range ms {
		v.Members = append(v.Members, presenceMember{Conn: m.Conn, Client: m.Client, Name: m.Name})
	}
	sort.Slice(v.Members, func(i, j int) bool { return v.Members[i].Conn < v.Members[j].Conn })
	b, _ := json.Marshal(v) // strings only
	return b
}

func decodeMembers(b []byte) ([]relay.Member, error) {
	var v presenceValue
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: presence value: %v", ErrBadMessage, err)
	}
	out := make([]relay.Member, len(v.Members))
	for i, m := range v.Members {
		out[i] = relay.Member{Conn: m.Conn, Client: m.Client, Name: m.Name}
	}
	return out, nil
}

// Join implements relay.Broker: it writes this node's members of room and
// returns the room's count across nodes. While NATS is unreachable it counts
// the other nodes as last seen.
func (b *Broker) Join(ctx context.Context, room string, m relay.Member) (int, error) {
	return b.change(ctx, room, m, true)
}

// Leave implements relay.Broker.
func (b *Broker) Leave(ctx context.Context, room string, m relay.Member) (int, error) {
	return b.change(ctx, room, m, false)
}

func (b *Broker) change(ctx context.Context, room string, m relay.Member, join bool) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return 0, relay.ErrBrokerClosed
	}
	rs := b.roomLocked(room)
	if join {
		rs.members[m.Conn] = m
		rs.joining = m.Conn
	} else {
		delete(rs.members, m.Conn)
	}
	rs.busy++
	b.mu.Unlock()

	rev, err := b.writePresence(ctx, rs)
	if err != nil {
		b.log.Debug("presence write failed; counting other nodes as last seen", "room", room, "err", err)
	}

	b.mu.Lock()
	rs.busy--
	b.maybeDropLocked(rs)
	b.mu.Unlock()
	if rev > 0 {
		// Read our own write back through the watch: every write before it,
		// from any node, is then applied, so a count read after another
		// node's join includes it.
		wctx, cancel := context.WithTimeout(ctx, min(b.cfg.RequestTimeout, time.Second))
		b.waitApplied(wctx, rev)
		cancel()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if rs.joining == m.Conn {
		rs.joining = "" // from here on, the joiner's count does not include what changes
	}
	return b.countLocked(room), nil
}

// writePresence writes rs's current members to its key, or deletes the key
// when there are none. It returns the revision written, or 0 when nothing
// was written (NATS unreachable: the next heartbeat writes it).
func (b *Broker) writePresence(ctx context.Context, rs *roomState) (uint64, error) {
	rs.putMu.Lock()
	defer rs.putMu.Unlock()
	key := presenceKey(rs.name, b.cfg.NodeID)
	b.mu.Lock()
	n := len(rs.members)
	val := encodeMembers(rs.members)
	if !b.nc.IsConnected() {
		if n == 0 {
			b.staleKeys[key] = struct{}{}
		}
		b.mu.Unlock()
		return 0, ErrDisconnected
	}
	delete(b.staleKeys, key)
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	if n == 0 {
		err := b.kv.Delete(ctx, key)
		if err != nil {
			b.mu.Lock()
			b.staleKeys[key] = struct{}{}
			b.mu.Unlock()
		}
		return 0, err
	}
	return b.kv.Put(ctx, key, val)
}

// countLocked is room's member count: local members plus the other nodes'.
func (b *Broker) countLocked(room string) int {
	n := 0
	if rs := b.rooms[room]; rs != nil {
		n = len(rs.members)
	}
	for _, e := range b.remote[room] {
		n += len(e.members)
	}
	return n
}

// presenceBatch is presence events for one room's local subscriptions.
type presenceBatch struct {
	subs []*subscription
	envs []*relay.Envelope
}

func (p presenceBatch) deliver() {
	for _, env := range p.envs {
		for _, s := range p.subs {
			s.deliver(env)
		}
	}
}

// setRemoteLocked replaces node's members in room (nil removes the entry)
// and returns the presence events for local members: a leave for each
// member gone, a join for each new one, counts stepping to the new total.
func (b *Broker) setRemoteLocked(room, node string, members []relay.Member, present bool, seen time.Time) presenceBatch {
	byNode := b.remote[room]
	old := byNode[node]
	before := b.countLocked(room)
	if present {
		if byNode == nil {
			byNode = make(map[string]*remoteEntry)
			b.remote[room] = byNode
		}
		byNode[node] = &remoteEntry{members: members, seen: seen}
	} else if old != nil {
		delete(byNode, node)
		if len(byNode) == 0 {
			delete(b.remote, room)
		}
	}
	rs := b.rooms[room]
	if rs == nil || len(*rs.subs.Load()) == 0 {
		return presenceBatch{}
	}
	var oldMembers []relay.Member
	if old != nil {
		oldMembers = old.members
	}
	gone, added := diffMembers(oldMembers, members)
	if len(gone)+len(added) == 0 {
		return presenceBatch{}
	}
	// A local member whose Join is in progress gets a count that already
	// includes this change: it is not told again (the relay skips an
	// envelope's Origin), and the others, who have not heard of it yet, get
	// counts without it.
	skip, count := "", before
	if _, ok := rs.members[rs.joining]; ok {
		skip, count = rs.joining, before-1
	}
	p := presenceBatch{subs: *rs.subs.Load()}
	for _, m := range gone {
		count--
		p.envs = append(p.envs, b.presenceEnvelope(room, "leave", count, m, skip))
	}
	for _, m := range added {
		count++
		p.envs = append(p.envs, b.presenceEnvelope(room, "join", count, m, skip))
	}
	return p
}

// diffMembers returns the members of old not in cur, and of cur not in old,
// by connection.
func diffMembers(old, cur []relay.Member) (gone, added []relay.Member) {
	in := make(map[string]bool, len(cur))
	for _, m := range cur {
		in[m.Conn] = true
	}
	was := make(map[string]bool, len(old))
	for _, m := range old {
		was[m.Conn] = true
		if !in[m.Conn] {
			gone = append(gone, m)
		}
	}
	for _, m := range cur {
		if !was[m.Conn] {
			added = append(added, m)
		}
	}
	return gone, added
}

// presenceEnvelope is a presence event about m, a member on another node.
// The relay does not deliver it to the local connection skip, if any.
func (b *Broker) presenceEnvelope(room, event string, count int, m relay.Member, skip string) *relay.Envelope {
	origin := m.Conn // a connection on another node: no local member is skipped
	if skip != "" {
		origin = skip
	}
	ts := time.Now().UnixMilli()
	ev, _ := json.Marshal(relay.PresenceEvent{
		Type: relay.TypePresence, Count: count, Event: event, Client: m.Client, Name: m.Name,
	})
	return &relay.Envelope{
		ID:     fmt.Sprintf("presence:%s:%d", b.cfg.NodeID, b.presenceID.Add(1)),
		Kind:   relay.KindPresence,
		Room:   room,
		Origin: origin,
		Client: m.Client,
		Event:  ev,
		TS:     ts,
	}
}

// --- the watch ---

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

// --- the heartbeat ---

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
