package relay

import (
	"container/list"
	"sync"
)

// The MemoryBroker's layer store. A room keeps one layer per publishing
// client (memRoom.layers, under the room's mu). Three caps hold:
//
//   - MaxLayers per room, and MaxRoomBytes per room: a room evicts its own
//     least recently updated layers (by TS), so one room cannot push every
//     other room's layers out. That is per-room work, under the room's mu.
//   - MaxRetainedBytes over all rooms: the least recently updated layer of
//     all rooms goes first. That needs an order shared by all rooms.
//
// Why a lock and not atomics for the shared part: the global cap alone could
// be an atomic counter, but choosing which layer to drop needs the global
// age order, and keeping an order exactly with atomics only (a lock-free
// list, or stamps scanned over every room at each eviction) is either far
// more code or O(rooms) per eviction. So layerBudget is a doubly linked
// list and a byte count under one small leaf lock, held for an O(1) splice
// and an addition: never while a room's map is walked, a room is looked up,
// an envelope is delivered or anything waits. Events other than frames
// never take it.
//
// Exactness: a room's caps hold whenever its mu is free. The global cap
// holds whenever no Publish is in flight: a publish that takes the total
// over MaxRetainedBytes evicts, before it delivers and returns, the oldest
// layers of all rooms until the total fits (evictOverBudget). Meanwhile the
// total may exceed the cap by the frames being published, which their
// publishers hold in memory anyway.

// layerBudget is the retained bytes of all rooms and their age order.
type layerBudget struct {
	max int64 // MaxRetainedBytes; static after construction

	mu    sync.Mutex // leaf lock: taken under a room's mu, never the other way
	lru   list.List  // of *memLayer, least recently updated at the front
	bytes int64      // the sum of every layer's size
}

// memLayer is one client's retained frame in one room.
type memLayer struct {
	room   *memRoom // static
	client string   // static

	env  *Envelope // guarded by room.mu
	size int64     // guarded by room.mu; counted in room.bytes and budget.bytes

	el *list.Element // guarded by budget.mu; its element in budget.lru, nil once evicted
}

// retainLocked keeps env as its client's layer in r, evicts what r's own
// caps demand, and reports whether the total is now over MaxRetainedBytes
// (the caller then calls evictOverBudget once r.mu is released).
func (b *MemoryBroker) retainLocked(r *memRoom, env *Envelope) (over bool) {
	size := int64(env.size())
	l, updated := r.layers[env.Client]
	if updated {
		r.bytes += size - l.size
	} else {
		l = &memLayer{room: r, client: env.Client}
		r.layers[env.Client] = l
		r.bytes += size
	}
	delta := size - l.size
	l.env, l.size = env, size

	// The room's own caps, on the room's state only.
	var gone []*memLayer
	if !updated && len(r.layers) > b.cfg.MaxLayers {
		gone = append(gone, r.forgetOldestLocked(env.Client))
	}
	for r.bytes > b.cfg.MaxRoomBytes && len(r.layers) > 0 {
		gone = append(gone, r.forgetOldestLocked(env.Client))
	}

	// The shared part: one short critical section.
	g := &b.budget
	g.mu.Lock()
	if l.el == nil {
		l.el = g.lru.PushBack(l)
	} else {
		g.lru.MoveToBack(l.el)
	}
	g.bytes += delta
	for _, x := range gone {
		g.removeLocked(x)
	}
	over = g.bytes > g.max
	g.mu.Unlock()
	return over
}

// forgetOldestLocked removes r's least recently updated layer other than
// keep's (keep's when it is the only one) from r, and returns it; the
// caller removes it from the budget.
func (r *memRoom) forgetOldestLocked(keep string) *memLayer {
	var oldest *memLayer
	for c, l := range r.layers {
		if c == keep && len(r.layers) > 1 {
			continue
		}
		if oldest == nil || l.env.TS < oldest.env.TS {
			oldest = l
		}
	}
	delete(r.layers, oldest.client)
	r.bytes -= oldest.size
	return oldest
}

// removeLocked takes l out of the order and the total. g.mu and l.room.mu
// are held.
func (g *layerBudget) removeLocked(l *memLayer) {
	if l.el == nil {
		return
	}
	g.lru.Remove(l.el)
	l.el = nil
	g.bytes -= l.size
}

// clearLayersLocked forgets all of r's layers.
func (b *MemoryBroker) clearLayersLocked(r *memRoom) {
	g := &b.budget
	g.mu.Lock()
	for _, l := range r.layers {
		g.removeLocked(l)
	}
	g.mu.Unlock()
	clear(r.layers)
	r.bytes = 0
}

// evictOverBudget evicts the least recently updated layers of all rooms
// until the total fits in MaxRetainedBytes. The caller holds no lock.
//
// It peeks at the oldest layer under the budget's lock, then takes that
// layer's room lock and the budget's again (the lock order), and evicts it
// only if it is still the oldest and the total still over: so the layer
// dropped is exactly the least recently updated one at that moment, even
// when others publish meanwhile.
func (b *MemoryBroker) evictOverBudget() {
	g := &b.budget
	for {
		g.mu.Lock()
		front := g.lru.Front()
		if g.bytes <= g.max || front == nil {
			g.mu.Unlock()
			return
		}
		l := front.Value.(*memLayer)
		g.mu.Unlock()

		r := l.room
		r.mu.Lock()
		g.mu.Lock()
		evict := g.bytes > g.max && g.lru.Front() == l.el && l.el != nil
		if evict {
			g.removeLocked(l)
		}
		g.mu.Unlock()
		if evict {
			delete(r.layers, l.client)
			r.bytes -= l.size
			b.maybeDropLocked(r)
		}
		r.mu.Unlock()
	}
}
