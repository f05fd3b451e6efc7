package natsbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/wire"
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
	// The connection's rights: a game seats only members that may both
	// publish and subscribe. Absent (a node from before them): neither.
	Publish   bool `json:"p,omitempty"`
	Subscribe bool `json:"s,omitempty"`
}

func encodeMembers(ms map[string]relay.Member) []byte {
	v := presenceValue{Members: make([]presenceMember, 0, len(ms))}
	for _, m := range ms {
		v.Members = append(v.Members, presenceMember{Conn: m.Conn, Client: m.Client, Name: m.Name, Publish: m.Publish, Subscribe: m.Subscribe})
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
		out[i] = relay.Member{Conn: m.Conn, Client: m.Client, Name: m.Name, Publish: m.Publish, Subscribe: m.Subscribe}
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
		p.envs = append(p.envs, b.presenceEnvelope(room, wire.PresenceLeave, count, m, skip))
	}
	for _, m := range added {
		count++
		p.envs = append(p.envs, b.presenceEnvelope(room, wire.PresenceJoin, count, m, skip))
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
