package relay

import (
	"sync"
)

// outItem is one thing to write to a subscriber: a text event, a control
// frame, or a frame event followed by its image.
type outItem struct {
	wire  []byte    // encoded frame(s), written with one write
	env   *Envelope // the envelope it came from, if any (for metrics)
	size  int       // what it counts against the caps
	layer bool      // a retained frame in the event FIFO: counts against the frame cap
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
// receipt is not held behind images.
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
	started  bool // the writer may run (set after hello is queued)
	running  bool // a write is in flight
	closed   bool // nothing more is accepted or written
	replaced uint64
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
	return q.kickLocked(), false, had, true
}

// pushLayer queues a retained frame for a late joiner in the event FIFO,
// so that it is written in order after hello and before the events queued
// after it (a running game's state). It counts against the frame cap and
// reports overflow.
func (q *outQueue) pushLayer(env *Envelope) (overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if q.newest == nil {
		q.frames = make(map[string]*Envelope)
		q.newest = make(map[string]frameID)
	}
	id := frameID{env.TS, env.Seq}
	if last, ok := q.newest[env.Client]; ok && !id.after(last) {
		// A live frame of this source, this very one or a newer one, is
		// already queued: the layer would be a duplicate or a step back.
		return false
	}
	if q.frBytes+env.size() > q.maxFrameBytes {
		return true
	}
	q.newest[env.Client] = id
	q.events = append(q.events, outItem{wire: env.wireBytes(), env: env, size: env.size(), layer: true})
	q.frBytes += env.size()
	return false
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
	if !q.started || q.running || q.closed {
		return false
	}
	if q.evHead == len(q.events) && len(q.order) == 0 {
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
	if q.evHead < len(q.events) {
		it = q.events[q.evHead]
		q.events[q.evHead] = outItem{}
		q.evHead++
		if it.layer {
			q.frBytes -= it.size
		} else {
			q.evBytes -= it.size
		}
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
	q.running = false
	return outItem{}, false
}

// releaseIfIdle gives up the writer token if nothing is pending (or the
// queue is closed) and reports whether it did; otherwise the caller keeps
// the token and must keep writing.
func (q *outQueue) releaseIfIdle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || (q.evHead == len(q.events) && len(q.order) == 0) {
		q.running = false
		return true
	}
	return false
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
	droppedFrames = len(q.order)
	for _, it := range q.events[q.evHead:] {
		if it.layer {
			droppedFrames++
		}
	}
	q.closed = true
	q.events, q.evHead, q.evBytes = nil, 0, 0
	q.frames, q.order, q.frBytes, q.newest = nil, nil, 0, nil
	return droppedFrames
}

// queueStats is a snapshot for tests and metrics.
type queueStats struct {
	Events, EventBytes int
	Frames, FrameBytes int
	Replaced           uint64
}

func (q *outQueue) stats() queueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return queueStats{
		Events: len(q.events) - q.evHead, EventBytes: q.evBytes,
		Frames: len(q.order), FrameBytes: q.frBytes, Replaced: q.replaced,
	}
}
