package relay

import (
	"container/list"
	"sync"
	"sync/atomic"
)

// The MemoryBroker's layer store. A room keeps one layer per publishing
// client (memRoom.layers, under the room's mu). Three caps hold:
//
//   - MaxLayers per room, and MaxRoomBytes per room: a room evicts its own
//     least recently updated layers (by TS), so one room cannot push every
//     other room's layers out. That is per-room work, under the room's mu.
//   - MaxRetainedBytes over all rooms: the least recently updated layer of
//     all rooms goes first. That needs an age order shared by all rooms.
//
// How the shared part is kept without a shared lock on the way of a
// Publish (layerBudget):
//
//   - The total is an atomic counter.
//   - The age order is a global atomic clock: each update stamps its layer.
//     The layers sit in budgetShards linked lists, one per shard, in stamp
//     order. A room is given a shard when it is created, round robin, so
//     up to budgetShards busy rooms never share one. A shard's lock is a
//     leaf lock, held for an O(1) splice and never while a room is looked
//     up, a room's map is walked, an envelope is delivered or anything
//     waits. Events other than frames take none of this.
//   - Eviction (only when the total is over the cap) takes the one lock
//     that is global, evictMu, finds the oldest layer as the oldest of the
//     shards' fronts, then locks its room and its shard and evicts it only
//     if it is still its shard's front with the same stamp. A shard's
//     front stamp only grows (stamps come from one increasing clock, under
//     the shard's lock), so that layer is then exactly the least recently
//     updated of all.
//
// Why not a single list under one lock: that is exact too, but then every
// frame of every room splices the same list, and the benchmark
// (BenchmarkMemoryBrokerPublishParallel) showed that lock as the top of
// the profile with two cores already. Why not atomics alone: an exact
// order with no list means a scan of every room at each eviction.
//
// Exactness: a room's caps hold whenever its mu is free. The global cap
// holds whenever no Publish is in flight: a publish that takes the total
// over MaxRetainedBytes evicts, before it delivers and returns, the oldest
// layers of all rooms until the total fits (evictOverBudget), and each
// eviction is decided while the total is over. Meanwhile the total may
// exceed the cap by the frames being published, which their publishers
// hold in memory anyway.

// budgetShards is the number of age lists; a power of two.
const budgetShards = 64

// layerBudget is the retained bytes of all rooms and their age order.
type layerBudget struct {
	max int64 // MaxRetainedBytes; static after construction

	bytes  atomic.Int64  // the sum of every layer's size
	clock  atomic.Uint64 // the last stamp given
	nextSh atomic.Uint32 // round robin of shards for new rooms

	evictMu sync.Mutex // one evictor at a time; taken only over the cap
	shards  [budgetShards]budgetShard
}

type budgetShard struct {
	mu  sync.Mutex // leaf lock: taken under a room's mu, never the other way
	lru list.List  // of *memLayer, by stamp, oldest at the front
	_   [40]byte   // keeps shards off each other's cache lines
}

func (g *layerBudget) shardFor() *budgetShard {
	return &g.shards[g.nextSh.Add(1)%budgetShards]
}

// memLayer is one client's retained layer log in one room (a full frame
// and the patches since, layerlog.go). The budget reads only size, which
// resizedLocked keeps equal to log.bytes under room.mu.
type memLayer struct {
	room   *memRoom // static
	client string   // static

	log  *Log  // guarded by room.mu: the full frame and the patches since (layerlog.go)
	size int64 // guarded by room.mu: log.bytes, counted in room.bytes and budget.bytes

	el    *list.Element // guarded by the room's shard mu; nil once evicted
	stamp uint64        // guarded by the room's shard mu; when last updated
}

// retainLocked keeps env, a full frame, as its client's layer in r (a new
// layer log), evicts what r's own caps demand, and reports whether the
// total is now over MaxRetainedBytes (the caller then calls
// evictOverBudget once r.mu is released).
func (b *MemoryBroker) retainLocked(r *memRoom, env *Envelope) (over bool) {
	l, updated := r.layers[env.Client]
	if !updated {
		l = &memLayer{room: r, client: env.Client}
		r.layers[env.Client] = l
	}
	l.log = NewLog(env) // a full frame starts a new log
	return b.resizedLocked(r, l, !updated)
}

// resizedLocked accounts for l's log, new (added) or changed: its size,
// r's own caps, and l's place in the age order (now the newest). It
// reports whether the total is now over MaxRetainedBytes.
func (b *MemoryBroker) resizedLocked(r *memRoom, l *memLayer, added bool) (over bool) {
	size := l.log.Bytes()
	delta := size - l.size
	r.bytes += delta
	l.size = size

	// The room's own caps, on the room's state only.
	var gone []*memLayer
	if added && len(r.layers) > b.cfg.MaxLayers {
		gone = append(gone, r.forgetOldestLocked(l.client))
	}
	for r.bytes > b.cfg.MaxRoomBytes && len(r.layers) > 0 {
		gone = append(gone, r.forgetOldestLocked(l.client))
	}

	// The shared part: the room's shard, for a splice.
	g, sh := &b.budget, r.shard
	sh.mu.Lock()
	l.stamp = g.clock.Add(1)
	if l.el == nil {
		l.el = sh.lru.PushBack(l)
	} else {
		sh.lru.MoveToBack(l.el)
	}
	for _, x := range gone {
		delta -= sh.removeLocked(x)
	}
	sh.mu.Unlock()
	if delta != 0 {
		return g.bytes.Add(delta) > g.max
	}
	return g.bytes.Load() > g.max
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
		if oldest == nil || l.log.Last().TS < oldest.log.Last().TS {
			oldest = l
		}
	}
	delete(r.layers, oldest.client)
	r.bytes -= oldest.size
	return oldest
}

// removeLocked takes l out of the age order and returns its size, which
// the caller takes off the total (0 when it was out already). sh.mu and
// l.room.mu are held.
func (sh *budgetShard) removeLocked(l *memLayer) int64 {
	if l.el == nil {
		return 0
	}
	sh.lru.Remove(l.el)
	l.el = nil
	return l.size
}

// clearLayersLocked forgets all of r's layers.
func (b *MemoryBroker) clearLayersLocked(r *memRoom) {
	var freed int64
	sh := r.shard
	sh.mu.Lock()
	for _, l := range r.layers {
		freed += sh.removeLocked(l)
	}
	sh.mu.Unlock()
	b.budget.bytes.Add(-freed)
	clear(r.layers)
	r.bytes = 0
}

// evictOverBudget evicts the least recently updated layers of all rooms
// until the total fits in MaxRetainedBytes. The caller holds no lock.
func (b *MemoryBroker) evictOverBudget() {
	g := &b.budget
	g.evictMu.Lock()
	defer g.evictMu.Unlock()
	for g.bytes.Load() > g.max {
		// The oldest of the shards' fronts.
		var (
			l     *memLayer
			stamp uint64
		)
		for i := range g.shards {
			sh := &g.shards[i]
			sh.mu.Lock()
			if f := sh.lru.Front(); f != nil {
				if x := f.Value.(*memLayer); l == nil || x.stamp < stamp {
					l, stamp = x, x.stamp
				}
			}
			sh.mu.Unlock()
		}
		if l == nil {
			return
		}
		// Still the oldest: still its shard's front with the same stamp.
		r, sh := l.room, l.room.shard
		r.mu.Lock()
		sh.mu.Lock()
		var freed int64
		if l.el != nil && sh.lru.Front() == l.el && l.stamp == stamp && g.bytes.Load() > g.max {
			freed = sh.removeLocked(l)
		}
		sh.mu.Unlock()
		if freed > 0 {
			g.bytes.Add(-freed)
			if r.layers[l.client] == l { // always, while l.el was set
				delete(r.layers, l.client)
			}
			r.bytes -= l.size
			b.maybeDropLocked(r)
		}
		r.mu.Unlock()
	}
}
