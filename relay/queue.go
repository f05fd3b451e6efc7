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
	// passed are ack tickets of frames this one replaced in the queue:
	// once it is written, the subscriber has moved past them (ack.go).
	passed []*ackTicket
	// closeCode, when set, makes the writer close the connection with it
	// (and closeText) once everything queued before it is written.
	closeCode int
	closeText string
}

// outQueue is a subscriber's bounded outbound queue.
//
// Image frames are latest-wins per source client, and a source's patches
// are never dropped from the middle (queue_frames.go): what a subscriber
// has pending from one source is a full frame and the patches after it, or
// patches that continue what it was already given. A new full frame
// replaces all of it. Events (chat, presence, acks, pings) go in a FIFO
// and are never dropped. Both are capped in bytes; going over a cap is an
// overflow, and the owner cuts the subscriber off (4002), so that its
// picture is never left with a gap.
//
// Events are written before frames, so that hello is always first and a
// receipt is not held behind images. A late joiner's retained layers (each
// sender's layer log) wait in a list of their own (they are shared with
// the broker, not copied) and are written one by one right after hello
// (see addLayers).
type outQueue struct {
	maxEvBytes    int // static after construction
	maxFrameBytes int // static after construction

	mu       sync.Mutex // guards everything below
	events   []outItem  // FIFO; events[evHead:] are pending
	evHead   int
	evBytes  int
	srcs     map[string]*srcQueue // per source client: pending frames, and what it was given
	order    []string             // sources with pending frames, in turn
	frames   int                  // frames pending in srcs
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

func idOf(env *Envelope) frameID { return frameID{env.TS, env.Seq} }

// maxNewest bounds the sources a queue remembers with nothing pending.
const maxNewest = 256

// pushed is what pushFrame did.
type pushed struct {
	kick, overflow bool
	queued         bool // env was taken
	fresh          bool // nothing of its source was pending before
	superseded     int  // pending frames of its source that env replaced
}

// pushFrame queues env, a frame of its source client: a full frame
// replaces everything of that source not yet written (latest-wins), a
// patch goes after the frames it continues (see srcQueue.plan). A frame
// no newer than what the subscriber already has from its source is
// refused, so a retained layer or a late rendition never overtakes a live
// frame.
func (q *outQueue) pushFrame(env *Envelope) pushed {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return pushed{}
	}
	r := q.takeLocked(env)
	if r.queued {
		r.kick = q.kickLocked()
	}
	return r
}

// dropLayerOfLocked forgets the pending layers of client, if any.
func (q *outQueue) dropLayerOfLocked(client string) int {
	n := 0
	q.layers = slices.DeleteFunc(q.layers, func(l *Envelope) bool {
		if l.Client != client {
			return false
		}
		q.lyBytes -= l.size()
		q.replaced++
		n++
		return true
	})
	if len(q.layers) == 0 {
		q.layers = nil
	}
	return n
}

// addLayers gives a late joiner the room's retained layers (each sender's
// layer log, whole and in order, oldest log first), to be written after the
// events queued so far (hello) and before those queued later (a running
// game's state). They are not copied into the queue: the writer takes the
// next one only when the one before it is written (see pop), so a room
// whose layers together exceed the frame cap still reaches the joiner in
// full, one layer in flight at a time.
//
// The log of a source that live frames already reached (a broker delivers
// while the layers are read) goes through pushFrame instead, so the joiner
// never gets a duplicate, a gap or a step back; overflow reports that this
// went over the frame cap.
//
// It reports whether the writer should be kicked; with maxBytes > 0, it
// takes nothing (full) when the pending layers would go over maxBytes.
func (q *outQueue) addLayers(envs []*Envelope, maxBytes int64) (kick, full, overflow bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, false, false
	}
	if maxBytes > 0 {
		n := int64(q.lyBytes)
		for _, env := range envs {
			n += int64(env.size())
		}
		if n > maxBytes {
			return false, true, false
		}
	}
	if q.srcs == nil {
		q.srcs = make(map[string]*srcQueue)
	}
	if len(q.layers) == 0 {
		q.layersAt = q.popped + uint64(len(q.events)-q.evHead)
	}
	fresh := map[string]bool{} // sources this call put in layers
	for _, env := range envs {
		s := q.srcs[env.Client]
		if s != nil && !fresh[env.Client] {
			if r := q.takeLocked(env); r.overflow {
				return false, false, true
			}
			continue
		}
		if s == nil {
			s = q.sourceLocked(env.Client)
			fresh[env.Client] = true
		}
		s.gave(env)
		q.layers = append(q.layers, env)
		q.lyBytes += env.size()
	}
	return q.kickLocked(), false, false
}

// nextLayerLocked takes the next pending layer.
func (q *outQueue) nextLayerLocked() *Envelope {
	if len(q.layers) == 0 {
		return nil
	}
	env := q.layers[0]
	q.layers[0] = nil
	q.layers = q.layers[1:]
	if len(q.layers) == 0 {
		q.layers = nil
	}
	q.lyBytes -= env.size()
	return env
}

// dropFrames forgets the frames not yet written (a game turn cleared the
// canvas), and what each source had given. It returns how many were
// dropped.
func (q *outQueue) dropFrames() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.frames + len(q.layers)
	q.srcs, q.order, q.frames, q.frBytes = nil, nil, 0, 0
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
	if env, passed := q.nextFrameLocked(); env != nil {
		return outItem{wire: env.wireBytes(), env: env, size: env.size(), passed: passed}, true
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
	droppedFrames = q.frames + len(q.layers)
	q.closed = true
	if q.parked {
		q.unparkLocked() // the writer sees closed and exits
	}
	q.events, q.evHead, q.evBytes = nil, 0, 0
	q.layers, q.lyBytes = nil, 0
	q.srcs, q.order, q.frames, q.frBytes = nil, nil, 0, 0
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
		Frames: q.frames, FrameBytes: q.frBytes, Replaced: q.replaced,
		Layers: len(q.layers), LayerBytes: q.lyBytes,
	}
}
