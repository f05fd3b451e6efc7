package relay

import (
	"slices"
	"sync"
)

// outItem is one thing to write to a subscriber: a text event, a control
// frame, or a frame event followed by its image.
type outItem struct {
	wire []byte    // encoded frame(s), written with one write
	env  *Envelope // the envelope it came from, if any (for metrics)
	size int       // what it counts against the caps
	// closeCode, when set, makes the writer close the connection with it
	// (and closeText) once everything queued before it is written.
	closeCode int
	closeText string
}

// outQueue is a subscriber's bounded outbound queue.
//
// Image frames are latest-wins per source client: a newer frame from the same
// client replaces the one not yet sent, so a subscriber holds at most one
// pending frame per source. Events (chat, presence, acks, pings) go in a FIFO
// and are never dropped. Both are capped in bytes; going over a cap is an
// overflow, and the owner cuts the subscriber off.
//
// Events are written before frames, so that hello is always first and a
// receipt is not held behind images. A late joiner's retained layers wait
// in a list of their own (they are shared with the broker, not copied) and
// are written one by one right after hello (see addLayers).
type outQueue struct {
	maxEvBytes    int // static after construction
	maxFrameBytes int // static after construction

	mu       sync.Mutex // guards everything below
	events   []outItem  // FIFO; events[evHead:] are pending
	evHead   int
	evBytes  int
	frames   map[string]*Envelope // pending frame per source client
	order    []string             // sources with a pending frame, in arrival order
	newest   map[string]frameID   // newest frame queued per source, to refuse older ones
	frBytes  int
	layers   []*Envelope // retained layers for a late joiner, oldest first; not counted against the caps
	lyBytes  int         // what layers hold
	popped   uint64      // events taken so far
	layersAt uint64      // layers are written once this many events were taken
	started  bool        // the writer may run (set after hello is queued)
	running  bool        // a writer holds the token (writing, or parked)
	closed   bool        // nothing more is accepted or written
	replaced uint64

	parked bool          // the writer holds the token and waits for more (writer.go)
	wake   chan struct{} // wakes a parked writer; made by its first park
}

func newOutQueue(maxEvBytes, maxFrameBytes int) *outQueue {
	return &outQueue{maxEvBytes: maxEvBytes, maxFrameBytes: maxFrameBytes}
}

// pushEvent appends an event. It reports whether the writer should be
// kicked, and overflow when the event cap was exceeded.
func (q *outQueue) pushEvent(it outItem, front bool) (kick, overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false
	}
	if q.evBytes+it.size > q.maxEvBytes {
		return false, true
	}
	if front {
		if len(q.layers) > 0 {
			q.layersAt++ // it goes ahead of the layers too
		}
		q.compactLocked()
		q.events = append(q.events, outItem{})
		copy(q.events[1:], q.events)
		q.events[0] = it
	} else {
		q.events = append(q.events, it)
	}
	q.evBytes += it.size
	return q.kickLocked(), false
}

// frameID orders the frames of one source: by acceptance time, then seq.
type frameID struct {
	ts  int64
	seq uint64
}

func (a frameID) after(b frameID) bool { return a.ts > b.ts || a.ts == b.ts && a.seq > b.seq }

// maxNewest bounds the per-source memory of a queue.
const maxNewest = 256

// pushFrame queues env as the pending frame of its source client, replacing
// a pending one (latest-wins). A frame no newer than the newest already
// queued for its source is refused, so a retained layer or a late
// rendition never overtakes a live frame. It reports whether a pending
// frame was replaced; queued reports whether env was taken at all.
func (q *outQueue) pushFrame(env *Envelope) (kick, overflow, replaced, queued bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false, false, false
	}
	if q.frames == nil {
		q.frames = make(map[string]*Envelope)
		q.newest = make(map[string]frameID)
	}
	id := frameID{env.TS, env.Seq}
	if last, ok := q.newest[env.Client]; ok && !id.after(last) {
		return false, false, false, false
	}
	old, had := q.frames[env.Client]
	n := q.frBytes + env.size()
	if had {
		n -= old.size()
	}
	if n > q.maxFrameBytes {
		return false, true, false, false
	}
	q.frames[env.Client] = env
	q.frBytes = n
	if len(q.newest) >= maxNewest {
		clear(q.newest)
	}
	q.newest[env.Client] = id
	if !had {
		q.order = append(q.order, env.Client)
	} else {
		q.replaced++
	}
	if len(q.layers) > 0 {
		q.dropLayerOfLocked(env.Client) // older than env: it goes at once
	}
	return q.kickLocked(), false, had, true
}

// dropLayerOfLocked forgets the pending layer of client, if any.
func (q *outQueue) dropLayerOfLocked(client string) {
	q.layers = slices.DeleteFunc(q.layers, func(l *Envelope) bool {
		if l.Client != client {
			return false
		}
		q.lyBytes -= l.size()
		q.replaced++
		return true
	})
	if len(q.layers) == 0 {
		q.layers = nil
	}
}

// addLayers gives a late joiner the room's retained layers, oldest first,
// to be written after the events queued so far (hello) and before those
// queued later (a running game's state). They are not copied into the
// queue: the writer takes the next one only when the one before it is
// written (see pop), so a room whose layers together exceed the frame cap
// still reaches the joiner in full, one layer in flight at a time.
//
// A layer is skipped when a live frame of its source, this very one or a
// newer one, is already queued (a cluster broker fetches layers over the
// network while live frames arrive), and a live frame no newer than a
// pending layer is refused: the joiner never gets a duplicate or a step
// back.
//
// It reports whether the writer should be kicked; with maxBytes > 0, it
// takes nothing (full) when the pending layers would go over maxBytes.
func (q *outQueue) addLayers(envs []*Envelope, maxBytes int64) (kick, full bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false
	}
	if maxBytes > 0 {
		n := int64(q.lyBytes)
		for _, env := range envs {
			n += int64(env.size())
		}
		if n > maxBytes {
			return false, true
		}
	}
	if q.newest == nil {
		q.frames = make(map[string]*Envelope)
		q.newest = make(map[string]frameID)
	}
	if len(q.layers) == 0 {
		q.layersAt = q.popped + uint64(len(q.events)-q.evHead)
	}
	for _, env := range envs {
		id := frameID{env.TS, env.Seq}
		if last, ok := q.newest[env.Client]; ok && !id.after(last) {
			continue
		}
		if old, ok := q.frames[env.Client]; ok {
			// An older live frame is pending: the layer replaces it.
			q.frBytes -= old.size()
			delete(q.frames, env.Client)
			q.order = slices.DeleteFunc(q.order, func(c string) bool { return c == env.Client })
			q.replaced++
		}
		if len(q.newest) >= maxNewest {
			clear(q.newest)
		}
		q.newest[env.Client] = id
		q.layers = append(q.layers, env)
		q.lyBytes += env.size()
	}
	return q.kickLocked(), false
}

// nextLayerLocked takes the next pending layer that no newer live frame of
// its source has overtaken.
func (q *outQueue) nextLayerLocked() *Envelope {
	for len(q.layers) > 0 {
		env := q.layers[0]
		q.layers[0] = nil
		q.layers = q.layers[1:]
		if len(q.layers) == 0 {
			q.layers = nil
		}
		q.lyBytes -= env.size()
		if last, ok := q.newest[env.Client]; ok && last.after(frameID{env.TS, env.Seq}) {
			q.replaced++
			continue // a newer live frame of this source was queued (a guard: pushFrame drops it)
		}
		return env
	}
	return nil
}

// dropFrames forgets the frames not yet written (a game turn cleared the
// canvas). It returns how many were dropped.
func (q *outQueue) dropFrames() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.order)
	for _, c := range q.order {
		q.frBytes -= q.frames[c].size()
		delete(q.frames, c)
	}
	q.order = nil
	n += len(q.layers)
	q.layers, q.lyBytes = nil, 0
	return n
}

// start lets the writer run; until then items only accumulate.
func (q *outQueue) start() (kick bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.started = true
	return q.kickLocked()
}

func (q *outQueue) kickLocked() bool {
	if q.running && q.parked && !q.idleLocked() {
		q.unparkLocked()
		return false
	}
	if !q.started || q.running || q.closed {
		return false
	}
	if q.idleLocked() {
		return false
	}
	q.running = true
	return true
}

// pop takes the next item to write. When nothing is left it clears running
// and returns ok == false; the next push kicks the writer again.
func (q *outQueue) pop() (it outItem, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		q.running = false
		return outItem{}, false
	}
	if it, ok = q.popLocked(); !ok {
		q.running = false
	}
	return it, ok
}

// popLocked takes the next item to write, if any; the caller holds the
// writer token and keeps it.
func (q *outQueue) popLocked() (it outItem, ok bool) {
	if q.popped >= q.layersAt {
		if env := q.nextLayerLocked(); env != nil {
			return outItem{wire: env.wireBytes(), env: env, size: env.size()}, true
		}
	}
	if q.evHead < len(q.events) {
		q.popped++
		it = q.events[q.evHead]
		q.events[q.evHead] = outItem{}
		q.evHead++
		q.evBytes -= it.size
		if q.evHead == len(q.events) {
			q.events = q.events[:0]
			q.evHead = 0
		}
		return it, true
	}
	if len(q.order) > 0 {
		c := q.order[0]
		q.order[0] = ""
		q.order = q.order[1:]
		if len(q.order) == 0 {
			q.order = nil
		}
		env := q.frames[c]
		delete(q.frames, c)
		q.frBytes -= env.size()
		return outItem{wire: env.wireBytes(), env: env, size: env.size()}, true
	}
	return outItem{}, false
}

// releaseIfIdle gives up the writer token if nothing is pending (or the
// queue is closed) and reports whether it did; otherwise the caller keeps
// the token and must keep writing.
func (q *outQueue) releaseIfIdle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.idleLocked() {
		q.running = false
		return true
	}
	return false
}

// idleLocked reports whether nothing is waiting to be written.
func (q *outQueue) idleLocked() bool {
	return q.evHead == len(q.events) && len(q.layers) == 0 && len(q.order) == 0
}

func (q *outQueue) compactLocked() {
	if q.evHead > 0 {
		n := copy(q.events, q.events[q.evHead:])
		clear(q.events[n:])
		q.events = q.events[:n]
		q.evHead = 0
	}
}

// close drops everything pending and refuses further items. It returns
// the number of image frames it dropped.
func (q *outQueue) close() (droppedFrames int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	droppedFrames = len(q.order) + len(q.layers)
	q.closed = true
	if q.parked {
		q.unparkLocked() // the writer sees closed and exits
	}
	q.events, q.evHead, q.evBytes = nil, 0, 0
	q.layers, q.lyBytes = nil, 0
	q.frames, q.order, q.frBytes, q.newest = nil, nil, 0, nil
	return droppedFrames
}

// queueStats is a snapshot for tests and metrics.
type queueStats struct {
	Events, EventBytes int
	Frames, FrameBytes int
	Layers, LayerBytes int // retained layers a late joiner has yet to be sent
	Replaced           uint64
}

func (q *outQueue) stats() queueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return queueStats{
		Events: len(q.events) - q.evHead, EventBytes: q.evBytes,
		Frames: len(q.order), FrameBytes: q.frBytes, Replaced: q.replaced,
		Layers: len(q.layers), LayerBytes: q.lyBytes,
	}
}
