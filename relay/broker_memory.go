package relay

import (
	"container/list"
	"context"
	"sync"
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
type MemoryBroker struct {
	cfg MemoryBrokerConfig

	mu        sync.Mutex // guards everything below
	rooms     map[string]*memRoom
	lru       list.List // of *memLayer, least recently updated at the front
	bytes     int64     // retained image + event bytes
	lastSweep time.Time
	closed    bool
}

type memRoom struct {
	subs       []*memSub
	layers     map[string]*list.Element // client → element of MemoryBroker.lru
	bytes      int64                    // what layers hold
	members    map[string]struct{}      // conn ids
	emptySince time.Time                // when the last member left
	clients    map[string]int           // client id → its members (conn ids), for ClientHolds
}

type memLayer struct {
	room string
	log  layerLog // the sender's full frame and the patches since (layerlog.go)
}

type memSub struct {
	b       *MemoryBroker
	room    string
	deliver func(*Envelope)
	once    sync.Once
}

// NewMemoryBroker returns an in-memory broker.
func NewMemoryBroker(cfg MemoryBrokerConfig) *MemoryBroker {
	if cfg.MaxLayers <= 0 {
		cfg.MaxLayers = 32
	}
	if cfg.MaxRetainedBytes <= 0 {
		cfg.MaxRetainedBytes = 256 << 20
	}
	if cfg.MaxRoomBytes <= 0 {
		cfg.MaxRoomBytes = defaultRoomBytes(cfg.MaxRetainedBytes)
	}
	if cfg.RetainEmptyFor <= 0 {
		cfg.RetainEmptyFor = time.Hour
	}
	if cfg.MaxRetainedRooms <= 0 {
		cfg.MaxRetainedRooms = 40000
	}
	return &MemoryBroker{cfg: cfg, rooms: make(map[string]*memRoom)}
}

func (b *MemoryBroker) roomLocked(name string) *memRoom {
	r := b.rooms[name]
	if r == nil {
		r = &memRoom{layers: make(map[string]*list.Element), members: make(map[string]struct{}), clients: make(map[string]int)}
		b.rooms[name] = r
	}
	return r
}

// Subscribe implements Broker.
func (b *MemoryBroker) Subscribe(room string, deliver func(*Envelope)) (Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrBrokerClosed
	}
	s := &memSub{b: b, room: room, deliver: deliver}
	r := b.roomLocked(room)
	r.subs = append(r.subs[:len(r.subs):len(r.subs)], s) // copy on write: Publish iterates a snapshot
	return s, nil
}

func (s *memSub) Close() error {
	s.once.Do(func() {
		b := s.b
		b.mu.Lock()
		defer b.mu.Unlock()
		r := b.rooms[s.room]
		if r == nil {
			return
		}
		subs := make([]*memSub, 0, len(r.subs))
		for _, x := range r.subs {
			if x != s {
				subs = append(subs, x)
			}
		}
		r.subs = subs
		b.maybeDropLocked(s.room, r)
	})
	return nil
}

// Publish implements Broker.
func (b *MemoryBroker) Publish(_ context.Context, env *Envelope) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrBrokerClosed
	}
	r := b.roomLocked(env.Room)
	if env.Kind == KindFrame {
		b.retainLocked(r, env)
	}
	subs := r.subs
	b.mu.Unlock()
	for _, s := range subs {
		s.deliver(env)
	}
	return nil
}

// defaultRoomBytes is the default of one room's layer budget: 96 MiB (nine
// layers of the default 8 MiB fit), and no more than half of the total.
func defaultRoomBytes(total int64) int64 { return min(96<<20, total/2) }

// retainLocked keeps env as its client's layer: the room stays within
// MaxLayers and MaxRoomBytes (its own least recently updated layers go
// first, so one room cannot push every other room's layers out), and all
// rooms together within MaxRetainedBytes.
func (b *MemoryBroker) retainLocked(r *memRoom, env *Envelope) {
	if el, ok := r.layers[env.Client]; ok {
		l := el.Value.(*memLayer)
		next := newLayerLog(env) // a full frame starts a new log
		d := next.bytes - l.log.bytes
		b.bytes += d
		r.bytes += d
		l.log = next
		b.lru.MoveToBack(el)
	} else {
		r.layers[env.Client] = b.lru.PushBack(&memLayer{room: env.Room, log: newLayerLog(env)})
		b.bytes += int64(env.size())
		r.bytes += int64(env.size())
		if len(r.layers) > b.cfg.MaxLayers {
			b.evictOldestOfRoomLocked(r, env.Client)
		}
	}
	b.boundLocked(r, env.Client)
}

// boundLocked evicts layers until the room and all rooms are within their
// byte caps, keep's last.
func (b *MemoryBroker) boundLocked(r *memRoom, keep string) {
	for r.bytes > b.cfg.MaxRoomBytes && len(r.layers) > 0 {
		b.evictOldestOfRoomLocked(r, keep)
	}
	for b.bytes > b.cfg.MaxRetainedBytes && b.lru.Len() > 0 {
		b.evictLocked(b.lru.Front())
	}
}

// evictOldestOfRoomLocked evicts the room's least recently updated layer
// other than keep's, or keep's when it is the only one.
func (b *MemoryBroker) evictOldestOfRoomLocked(r *memRoom, keep string) {
	var oldest *list.Element
	for c, el := range r.layers {
		if c == keep && len(r.layers) > 1 {
			continue
		}
		if oldest == nil || el.Value.(*memLayer).log.last().TS < oldest.Value.(*memLayer).log.last().TS {
			oldest = el
		}
	}
	if oldest != nil {
		b.evictLocked(oldest)
	}
}

func (b *MemoryBroker) evictLocked(el *list.Element) {
	l := el.Value.(*memLayer)
	b.lru.Remove(el)
	b.bytes -= l.log.bytes
	if r := b.rooms[l.room]; r != nil {
		r.bytes -= l.log.bytes
		delete(r.layers, l.log.base().Client)
		b.maybeDropLocked(l.room, r)
	}
}

// maybeDropLocked forgets a room that has nothing left to remember.
func (b *MemoryBroker) maybeDropLocked(name string, r *memRoom) {
	if len(r.subs) == 0 && len(r.members) == 0 && len(r.layers) == 0 {
		delete(b.rooms, name)
	}
}

// Layers implements Broker: each sender's layer log, whole and in order,
// least recently updated log first.
func (b *MemoryBroker) Layers(_ context.Context, room string) ([]*Envelope, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rooms[room]
	if r == nil {
		return nil, nil
	}
	logs := make([][]*Envelope, 0, len(r.layers))
	for _, el := range r.layers {
		logs = append(logs, el.Value.(*memLayer).log.entries)
	}
	return flattenLogs(logs), nil
}

// Join implements Broker.
func (b *MemoryBroker) Join(_ context.Context, room string, m Member) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, ErrBrokerClosed
	}
	b.sweepLocked(time.Now())
	r := b.roomLocked(room)
	if _, ok := r.members[m.Conn]; !ok {
		r.members[m.Conn] = struct{}{}
		r.clients[m.Client]++
	}
	return len(r.members), nil
}

// ClientHolds implements Broker: a member of room with that client id, or
// a layer of it.
func (b *MemoryBroker) ClientHolds(_ context.Context, room, client string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrBrokerClosed
	}
	r := b.rooms[room]
	if r == nil {
		return false, nil
	}
	_, layer := r.layers[client]
	return layer || r.clients[client] > 0, nil
}

// Leave implements Broker.
func (b *MemoryBroker) Leave(_ context.Context, room string, m Member) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rooms[room]
	if r == nil {
		return 0, nil
	}
	if _, ok := r.members[m.Conn]; ok {
		delete(r.members, m.Conn)
		if r.clients[m.Client]--; r.clients[m.Client] <= 0 {
			delete(r.clients, m.Client)
		}
	}
	n := len(r.members)
	if n == 0 {
		r.emptySince = time.Now()
		b.maybeDropLocked(room, r)
	}
	return n, nil
}

// sweepLocked drops the layers of rooms that have been empty for longer than
// RetainEmptyFor, at most once a minute unless too many rooms are retained.
func (b *MemoryBroker) sweepLocked(now time.Time) {
	if now.Sub(b.lastSweep) < time.Minute && len(b.rooms) <= b.cfg.MaxRetainedRooms {
		return
	}
	b.lastSweep = now
	type cand struct {
		name  string
		since time.Time
	}
	var empty []cand
	for name, r := range b.rooms {
		if len(r.members) == 0 && len(r.subs) == 0 {
			empty = append(empty, cand{name, r.emptySince})
		}
	}
	// Oldest first; drop expired ones and, if still too many, the oldest.
	sortSlice(empty, func(a, b cand) bool { return a.since.Before(b.since) })
	excess := len(b.rooms) - b.cfg.MaxRetainedRooms
	for i, c := range empty {
		if now.Sub(c.since) < b.cfg.RetainEmptyFor && i >= excess {
			break
		}
		r := b.rooms[c.name]
		for _, el := range r.layers {
			b.lru.Remove(el)
			b.bytes -= el.Value.(*memLayer).log.bytes
		}
		delete(b.rooms, c.name)
	}
}

// ClearLayers implements LayerClearer.
func (b *MemoryBroker) ClearLayers(_ context.Context, room string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rooms[room]
	if r == nil {
		return nil
	}
	for _, el := range r.layers {
		b.lru.Remove(el)
		b.bytes -= el.Value.(*memLayer).log.bytes
	}
	clear(r.layers)
	r.bytes = 0
	b.maybeDropLocked(room, r)
	return nil
}

// Close implements Broker.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}
