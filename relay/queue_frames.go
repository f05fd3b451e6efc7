package relay

// The frames of one source in a subscriber's queue. A subscriber's picture
// of a sender is a full frame plus consecutive patches of its layer log,
// exactly as the sender drew it. So the queue remembers, per source, the
// newest frame it has taken (queued, or put in the late joiner's layers)
// and where it stands in its log, and each new frame of that source is
// planned against it:
//
//   - a full frame newer than that replaces everything of the source not
//     yet written (latest-wins), its pending layers included;
//   - a patch of the same log goes after it; when the subscriber missed
//     patches in between (two connections of one client publish, and
//     their deliveries cross), they are taken from the patch's own log
//     prefix first;
//   - a patch of a log the subscriber has not started (a newer full frame
//     it never got, or a source it forgot) brings its whole log prefix,
//     full frame first, and replaces what was pending;
//   - anything the subscriber already has, or older than it, is refused.
//
// Nothing is ever dropped from the middle: what cannot fit under the frame
// cap is an overflow, and the subscriber is cut off (4002) rather than left
// with a gap. A log is bounded (layerlog.go: its full frame, at most twice
// logBound of patches and one more), and a full frame replaces a source's
// pending frames, so a slow subscriber holds at most one log per source.

// srcQueue is one source's state in a subscriber's queue. Guarded by
// outQueue.mu.
type srcQueue struct {
	pending []*Envelope // frames to write: a full frame and patches, or patches continuing the given ones
	bytes   int         // what pending holds
	given   bool        // id, base and idx describe a frame taken
	id      frameID     // the newest frame taken
	base    *Envelope   // its log's full frame
	idx     int         // its place in that log (0: the full frame)
	// skipped are the ack tickets of frames replaced here before they were
	// written, newest last, at most maxSkipped: the next frame written
	// from the source counts for their quorums (ack.go).
	skipped []*ackTicket
}

// maxSkipped bounds the replaced frames a source remembers for their
// quorums; older ones count for nothing (their acks go after ackHoldMax).
const maxSkipped = 8

// skip remembers the tickets of the pending frames that are replaced.
func (s *srcQueue) skip() {
	for _, e := range s.pending {
		t := e.ticket()
		if t == nil {
			continue
		}
		if len(s.skipped) == maxSkipped {
			copy(s.skipped, s.skipped[1:])
			s.skipped = s.skipped[:maxSkipped-1]
		}
		s.skipped = append(s.skipped, t)
	}
}

// gave records env as the newest frame taken from the source.
func (s *srcQueue) gave(env *Envelope) {
	s.given, s.id, s.base, s.idx = true, idOf(env), env.logOf(), env.logIdx
}

// plan returns the frames to queue for env and whether they replace what
// is pending; nil when the subscriber has env, or something newer, already.
func (s *srcQueue) plan(env *Envelope) (add []*Envelope, replace bool) {
	if env.Patch == nil {
		if s.given && !idOf(env).after(s.id) {
			return nil, false
		}
		return []*Envelope{env}, true
	}
	base := env.logOf()
	if s.given && sameFrame(s.base, base) {
		if s.idx >= env.logIdx {
			return nil, false // it has this patch already
		}
		if s.idx == env.logIdx-1 {
			return []*Envelope{env}, false
		}
		// Patches in between are missing: take them from env's log.
		add = append(add, env.logPrev[s.idx+1:]...)
		return append(add, env), false
	}
	if s.given && idOf(s.base).after(idOf(base)) {
		return nil, false // a patch of an older log
	}
	return env.withPrefix(), true
}

// sameFrame reports whether a and b are one frame: the same envelope, or
// two copies of one message (a cluster broker may decode a message twice).
func sameFrame(a, b *Envelope) bool { return a == b || a.ID != "" && a.ID == b.ID }

// sourceLocked returns client's srcQueue, making it.
func (q *outQueue) sourceLocked(client string) *srcQueue {
	if q.srcs == nil {
		q.srcs = make(map[string]*srcQueue)
	}
	s := q.srcs[client]
	if s == nil {
		if len(q.srcs) >= maxNewest {
			q.forgetIdleLocked()
		}
		s = &srcQueue{}
		q.srcs[client] = s
	}
	return s
}

// forgetIdleLocked forgets the sources with nothing pending and no
// pending layer. A forgotten source's next patch brings its whole log.
func (q *outQueue) forgetIdleLocked() {
	inLayers := make(map[string]bool, len(q.layers))
	for _, l := range q.layers {
		inLayers[l.Client] = true
	}
	for c, s := range q.srcs {
		if len(s.pending) == 0 && !inLayers[c] {
			delete(q.srcs, c)
		}
	}
}

// takeLocked plans env against its source and queues what it must.
func (q *outQueue) takeLocked(env *Envelope) pushed {
	s := q.sourceLocked(env.Client)
	add, replace := s.plan(env)
	if len(add) == 0 {
		return pushed{}
	}
	n := q.frBytes
	for _, e := range add {
		n += e.size()
	}
	if replace {
		n -= s.bytes
	}
	if n > q.maxFrameBytes {
		return pushed{overflow: true}
	}
	r := pushed{queued: true, fresh: len(s.pending) == 0}
	wasIdle := len(s.pending) == 0
	if replace {
		r.superseded = len(s.pending)
		q.replaced += uint64(r.superseded)
		q.frames -= len(s.pending)
		s.skip()
		clear(s.pending)
		s.pending, s.bytes = s.pending[:0], 0
		if len(q.layers) > 0 {
			r.superseded += q.dropLayerOfLocked(env.Client) // older than env: it goes at once
		}
	}
	for _, e := range add {
		s.pending = append(s.pending, e)
		s.bytes += e.size()
	}
	q.frames += len(add)
	q.frBytes = n
	s.gave(env)
	if wasIdle {
		q.order = append(q.order, env.Client)
	}
	return r
}

// nextFrameLocked takes the next frame to write: one of the first source
// in turn, which goes to the back of the turn if it has more. passed are
// the tickets of the source's frames it replaced here (srcQueue.skipped).
func (q *outQueue) nextFrameLocked() (env *Envelope, passed []*ackTicket) {
	if len(q.order) == 0 {
		return nil, nil
	}
	c := q.order[0]
	q.order[0] = ""
	q.order = q.order[1:]
	s := q.srcs[c]
	env, passed, s.skipped = s.pending[0], s.skipped, nil
	s.pending[0] = nil
	s.pending = s.pending[1:]
	s.bytes -= env.size()
	q.frames--
	q.frBytes -= env.size()
	if len(s.pending) > 0 {
		q.order = append(q.order, c)
	} else {
		s.pending = nil
	}
	if len(q.order) == 0 {
		q.order = nil
	}
	return env, passed
}
