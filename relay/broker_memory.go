package relay

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryBrokerConfig configures NewMemoryBroker. Zero values mean the
// defaults of the same-named Config fields.
type MemoryBrokerConfig struct {
	MaxLayers        int           // layers kept per room; default 32
	MaxRetainedBytes int64         // bytes of all layers together; default 256 MiB
	MaxRoomBytes     int64         // bytes of one room's layers; default 96 MiB, at most MaxRetainedBytes/2
	RetainEmptyFor   time.Duration // how long an empty room keeps its layers; default 1 h
	MaxRetainedRooms int           // empty rooms with layers kept at most; default 40,000
}

// MemoryBroker is the single-node Broker. Delivery is a direct call.
//
// Locking: there is no broker-wide lock on the way of a Publish. Each room
// has its own lock (memRoom.mu), so rooms never wait for each other. The
// one thing all rooms share is the retained-bytes budget and its
// least-recently-updated order (layerBudget, see memory_layers.go): an
// atomic total, an atomic clock, and age lists in shards whose leaf locks
// are held for a list splice only. Lock order: the budget's evictMu, a
// room's mu, its shard's mu; never the other way.
type MemoryBroker struct {
	cfg MemoryBrokerConfig // static after construction

	// rooms maps a room name to its *memRoom. A room leaves the map only
	// under its own mu, which then marks it dead, so a caller that finds a
	// dead room looks the name up again (lockRoom).
	rooms  sync.Map
	nRooms atomic.Int64 // rooms in the map
	closed atomic.Bool

	budget layerBudget // all rooms' layers: bytes and age order

	sweepMu   sync.Mutex   // one sweep at a time (TryLock)
	lastSweep atomic.Int64 // unix nanoseconds of the last sweep
}

// memRoom is one room's state in a MemoryBroker.
type memRoom struct {
	name  string       // static
	shard *budgetShard // static: where its layers sit in the age order

	// subs is the subscriptions, copied on write under mu, so Publish reads
	// it without a lock.
	subs atomic.Pointer[[]*memSub]

	mu         sync.Mutex           // guards everything below
	dead       bool                 // removed from MemoryBroker.rooms
	layers     map[string]*memLayer // client → its layer
	bytes      int64                // what layers hold
	members    map[string]struct{}  // conn ids
	emptySince time.Time            // when the last member left
	clients    map[string]int       // client id → its members (conn ids), for ClientHolds
}

type memSub struct {
	b       *MemoryBroker
	room    *memRoom
	deliver func(*Envelope)
	once    sync.Once
}

// NewMemoryBroker returns an in-memory broker.
func NewMemoryBroker(cfg MemoryBrokerConfig) *MemoryBroker {
	if cfg.MaxLayers <= 0 {
		cfg.MaxLayers = defaultMaxLayers
	}
	if cfg.MaxRetainedBytes <= 0 {
		cfg.MaxRetainedBytes = defaultMaxRetainedBytes
	}
	if cfg.MaxRoomBytes <= 0 {
		cfg.MaxRoomBytes = defaultRoomBytes(cfg.MaxRetainedBytes)
	}
	if cfg.RetainEmptyFor <= 0 {
		cfg.RetainEmptyFor = defaultRetainEmptyFor
	}
	if cfg.MaxRetainedRooms <= 0 {
		cfg.MaxRetainedRooms = 40000
	}
	b := &MemoryBroker{cfg: cfg}
	b.budget.max = cfg.MaxRetainedBytes
	return b
}

// defaultRoomBytes is the default of one room's layer budget: 96 MiB (nine
// layers of the default 8 MiB fit), and no more than half of the total.
func defaultRoomBytes(total int64) int64 { return min(96<<20, total/2) }

// lockRoom returns the named room with its mu held, creating it when
// create is set; nil (and nothing held) when it does not exist and create
// is not set.
func (b *MemoryBroker) lockRoom(name string, create bool) *memRoom {
	for {
		v, ok := b.rooms.Load(name)
		if !ok {
			if !create {
				return nil
			}
			fresh := &memRoom{name: name, shard: b.budget.shardFor(), layers: make(map[string]*memLayer), members: make(map[string]struct{}), clients: make(map[string]int)}
			if v, ok = b.rooms.LoadOrStore(name, fresh); !ok {
				b.nRooms.Add(1)
			}
		}
		r := v.(*memRoom)
		r.mu.Lock()
		if !r.dead {
			return r
		}
		r.mu.Unlock() // dropped meanwhile: it is gone from the map, or about to be
	}
}

// maybeDropLocked forgets a room that has nothing left to remember.
func (b *MemoryBroker) maybeDropLocked(r *memRoom) {
	if len(*r.loadSubs()) == 0 && len(r.members) == 0 && len(r.layers) == 0 {
		b.dropLocked(r)
	}
}

// dropLocked removes r from the map. r holds no layer.
func (b *MemoryBroker) dropLocked(r *memRoom) {
	r.dead = true
	if b.rooms.CompareAndDelete(r.name, r) {
		b.nRooms.Add(-1)
	}
}

var noSubs []*memSub

func (r *memRoom) loadSubs() *[]*memSub {
	if p := r.subs.Load(); p != nil {
		return p
	}
	return &noSubs
}

// Subscribe implements Broker.
func (b *MemoryBroker) Subscribe(room string, deliver func(*Envelope)) (Subscription, error) {
	if b.closed.Load() {
		return nil, ErrBrokerClosed
	}
	r := b.lockRoom(room, true)
	defer r.mu.Unlock()
	s := &memSub{b: b, room: r, deliver: deliver}
	old := *r.loadSubs()
	subs := append(old[:len(old):len(old)], s) // copy on write: Publish iterates a snapshot
	r.subs.Store(&subs)
	return s, nil
}

func (s *memSub) Close() error {
	s.once.Do(func() {
		r := s.room
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.dead { // cannot be while s is in it; kept for safety
			return
		}
		old := *r.loadSubs()
		subs := make([]*memSub, 0, len(old))
		for _, x := range old {
			if x != s {
				subs = append(subs, x)
			}
		}
		r.subs.Store(&subs)
		s.b.maybeDropLocked(r)
	})
	return nil
}

// Publish implements Broker. Events other than frames take no lock at
// all; a frame takes its room's lock, and the budget's for a list splice.
func (b *MemoryBroker) Publish(_ context.Context, env *Envelope) error {
	if b.closed.Load() {
		return ErrBrokerClosed
	}
	var subs []*memSub
	if env.Kind == KindFrame {
		r := b.lockRoom(env.Room, true)
		over := b.retainLocked(r, env)
		b.maybeDropLocked(r) // a frame over MaxRoomBytes alone is not kept
		subs = *r.loadSubs()
		r.mu.Unlock()
		if over {
			b.evictOverBudget()
		}
	} else if v, ok := b.rooms.Load(env.Room); ok {
		subs = *v.(*memRoom).loadSubs() // a dead room has none
	}
	for _, s := range subs {
		s.deliver(env)
	}
	return nil
}

// Layers implements Broker: each sender's layer log, whole and in order,
// least recently updated log first.
func (b *MemoryBroker) Layers(_ context.Context, room string) ([]*Envelope, error) {
	r := b.lockRoom(room, false)
	if r == nil {
		return nil, nil
	}
	defer r.mu.Unlock()
	logs := make([][]*Envelope, 0, len(r.layers))
	for _, l := range r.layers {
		logs = append(logs, l.log.Entries())
	}
	return flattenLogs(logs), nil
}

// ClearLayers implements LayerClearer.
func (b *MemoryBroker) ClearLayers(_ context.Context, room string) error {
	r := b.lockRoom(room, false)
	if r == nil {
		return nil
	}
	defer r.mu.Unlock()
	b.clearLayersLocked(r)
	b.maybeDropLocked(r)
	return nil
}

// Join implements Broker.
func (b *MemoryBroker) Join(_ context.Context, room string, m Member) (int, error) {
	if b.closed.Load() {
		return 0, ErrBrokerClosed
	}
	b.maybeSweep(time.Now())
	r := b.lockRoom(room, true)
	defer r.mu.Unlock()
	if _, ok := r.members[m.Conn]; !ok {
		r.members[m.Conn] = struct{}{}
		r.clients[m.Client]++
	}
	return len(r.members), nil
}

// ClientHolds implements Broker: a member of room with that client id, or
// a layer of it.
func (b *MemoryBroker) ClientHolds(_ context.Context, room, client string) (bool, error) {
	if b.closed.Load() {
		return false, ErrBrokerClosed
	}
	r := b.lockRoom(room, false)
	if r == nil {
		return false, nil
	}
	defer r.mu.Unlock()
	_, layer := r.layers[client]
	return layer || r.clients[client] > 0, nil
}

// Leave implements Broker.
func (b *MemoryBroker) Leave(_ context.Context, room string, m Member) (int, error) {
	r := b.lockRoom(room, false)
	if r == nil {
		return 0, nil
	}
	defer r.mu.Unlock()
	if _, ok := r.members[m.Conn]; ok {
		delete(r.members, m.Conn)
		if r.clients[m.Client]--; r.clients[m.Client] <= 0 {
			delete(r.clients, m.Client)
		}
	}
	n := len(r.members)
	if n == 0 {
		r.emptySince = time.Now()
		b.maybeDropLocked(r)
	}
	return n, nil
}

// maybeSweep drops the layers of rooms that have been empty for longer
// than RetainEmptyFor, at most once a minute unless too many rooms are
// retained. One caller sweeps at a time; the others go on at once. It
// locks one room at a time.
func (b *MemoryBroker) maybeSweep(now time.Time) {
	if now.UnixNano()-b.lastSweep.Load() < int64(time.Minute) && b.nRooms.Load() <= int64(b.cfg.MaxRetainedRooms) {
		return
	}
	if !b.sweepMu.TryLock() {
		return
	}
	defer b.sweepMu.Unlock()
	b.lastSweep.Store(now.UnixNano())
	type cand struct {
		r     *memRoom
		since time.Time
	}
	var empty []cand
	b.rooms.Range(func(_, v any) bool {
		r := v.(*memRoom)
		r.mu.Lock()
		if !r.dead && len(r.members) == 0 && len(*r.loadSubs()) == 0 {
			empty = append(empty, cand{r, r.emptySince})
		}
		r.mu.Unlock()
		return true
	})
	// Oldest first; drop expired ones and, if still too many, the oldest.
	sortSlice(empty, func(a, b cand) bool { return a.since.Before(b.since) })
	excess := int(b.nRooms.Load()) - b.cfg.MaxRetainedRooms
	for i, c := range empty {
		if now.Sub(c.since) < b.cfg.RetainEmptyFor && i >= excess {
			break
		}
		r := c.r
		r.mu.Lock()
		if !r.dead && len(r.members) == 0 && len(*r.loadSubs()) == 0 { // still empty
			b.clearLayersLocked(r)
			b.dropLocked(r)
		}
		r.mu.Unlock()
	}
}

// Close implements Broker.
func (b *MemoryBroker) Close() error {
	b.closed.Store(true)
	return nil
}
