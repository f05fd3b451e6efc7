package relay

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Acks paced to delivery. A sender's ack is its receipt ("accepted"), and
// senders pace themselves on acks. Acking a frame as soon as it is queued
// would let a sender with several frames in flight outrun its viewers: the
// relay would accept frames that replace each other in the subscribers'
// queues unseen, work for the relay and nothing for anyone. So when a frame
// reaches local subscribers, its ack is held until the frame has been
// written to a quorum of them: half of the subscribers that queued it.
//
// A subscriber in whose queue a newer frame of the same sender replaced
// the frame counts for its quorum once that newer frame is written to it:
// it has moved past the frame. So the quorum is "half the subscribers
// were written this frame or a newer one", provided at least one was
// written the frame itself. With hundreds of subscribers at different
// paces, a frame is often written to the fast ones and replaced for the
// slow ones; without this it would hold its ack, and a slot of the
// sender's window, for ackHoldMax.
//
// A frame that reaches its quorum releases its own ack (or, when that went
// already, the oldest held one). A frame replaced for every subscriber
// before any took it (it reached nobody) never reaches its quorum, and its
// ack goes out after ackHoldMax, on its own. So a sender with several frames in flight gets one ack per
// frame its median viewer took, and its frames never pile up in the
// subscribers' queues (each holds one frame being written and one pending
// per sender): a replaced frame's ack keeps its slot in the sender's window
// for a while, which is what stops the next frames from replacing each
// other. Releasing the acks of replaced frames together with later ones
// would bring bursts of frames that replace each other unseen; releasing
// delivered frames' acks behind older ones would shrink the sender's
// window to one frame.
//
// Guarantees:
//   - A stalled minority never slows the sender: the quorum is half, and
//     the others' writes reach it.
//   - No ack waits more than ackHoldMax (a stalled majority, a frame
//     replaced everywhere), and at most maxHeldAcks are held.
//   - Every frame gets exactly one answer (ackTicket.fire runs once). Acks
//     may come out of order (a replaced frame's after later ones): match
//     answers by seq.
//   - A frame that no local subscriber took (none in the room, only
//     renditions, or a broker that delivers asynchronously, a cluster) is
//     acked at once.

// ackHoldMax bounds how long an ack is held.
const ackHoldMax = time.Second

// maxHeldAcks bounds the acks one connection holds; past it the oldest goes.
const maxHeldAcks = 64

// ackTicket is the ack of one accepted frame. It is small and holds no
// image, so a held ack keeps no frame alive.
type ackTicket struct {
	seq  uint64
	once sync.Once
	send func() // queues the ack on the sender's connection

	queued  atomic.Int32 // local subscribers that queued the frame
	writes  atomic.Int32 // writes of the frame (or its renditions) to subscribers
	passes  atomic.Int32 // subscribers that skipped it and were written a newer frame of its sender
	need    atomic.Int32 // writes that make the quorum; 0 until the ack is held
	reached atomic.Bool  // the quorum was reached (it releases one ack, once)
	holder  *conn        // the sender holding it; set before need
	timer   *time.Timer  // sends the ack after ackHoldMax; guarded by the holder's acks.mu
}

func (t *ackTicket) fire() { t.once.Do(t.send) }

// releaseLocked sends a held ack and stops its timer, so that only held
// acks keep one. The caller holds the holder's acks.mu.
func (t *ackTicket) releaseLocked() {
	t.fire()
	if t.timer != nil {
		t.timer.Stop()
	}
}

// queuedOne counts a local subscriber that queued the frame.
func (t *ackTicket) queuedOne() {
	if t != nil {
		t.queued.Add(1)
	}
}

// wroteOne counts a write of the frame to a subscriber; the write that makes
// the quorum releases one of the holder's acks.
func (t *ackTicket) wroteOne() {
	if t == nil {
		return
	}
	t.writes.Add(1)
	t.check()
}

// passedOne counts a subscriber that skipped the frame (a newer frame of
// its sender replaced it in the queue) and was written that newer frame.
func (t *ackTicket) passedOne() {
	if t == nil {
		return
	}
	t.passes.Add(1)
	t.check()
}

// check releases one of the holder's acks when the quorum is reached: the
// subscribers that were written the frame or moved past it make need, and
// at least one was written the frame itself. Each count is added before
// check reads both, so of two counts that race at least one check sees
// them together.
func (t *ackTicket) check() {
	w := t.writes.Load()
	need := t.need.Load()
	if need > 0 && w > 0 && w+t.passes.Load() >= need && t.reached.CompareAndSwap(false, true) {
		t.holder.releaseAck(t)
	}
}

// heldAcks are the acks a connection holds, oldest first.
type heldAcks struct {
	mu      sync.Mutex
	tickets []*ackTicket
}

// answerFrame acks an accepted frame: at once when no local subscriber
// queued it, else once it has been written to half of them (see above).
func (c *conn) answerFrame(t *ackTicket, ack []byte) {
	q := t.queued.Load()
	if q == 0 {
		t.once.Do(func() { c.reply(ack) })
		return
	}
	c.srv.metrics.acksHeld.Inc()
	t.holder = c
	c.acks.mu.Lock()
	if len(c.acks.tickets) >= maxHeldAcks {
		c.acks.tickets[0].releaseLocked()
		c.acks.tickets[0] = nil
		c.acks.tickets = c.acks.tickets[1:]
	}
	c.acks.tickets = append(c.acks.tickets, t)
	t.timer = time.AfterFunc(ackHoldMax, func() { c.releaseAckTimedOut(t) })
	c.acks.mu.Unlock()
	t.need.Store((q + 1) / 2)
	t.check() // the writes may have come first
}

// releaseAck sends t's ack, t having reached its quorum; if it went
// already (timed out, or pushed out by maxHeldAcks), the oldest held ack
// goes instead: one release per delivered frame.
func (c *conn) releaseAck(t *ackTicket) {
	c.acks.mu.Lock()
	defer c.acks.mu.Unlock()
	i := slices.Index(c.acks.tickets, t)
	if i < 0 {
		if len(c.acks.tickets) == 0 {
			return
		}
		i = 0
	}
	c.acks.tickets[i].releaseLocked()
	c.acks.tickets = slices.Delete(c.acks.tickets, i, i+1)
}

// releaseAckTimedOut sends t's ack if it is still held after ackHoldMax.
func (c *conn) releaseAckTimedOut(t *ackTicket) {
	c.acks.mu.Lock()
	defer c.acks.mu.Unlock()
	i := slices.Index(c.acks.tickets, t)
	if i < 0 {
		return
	}
	c.srv.metrics.acksTimedOut.Inc()
	t.fire()
	c.acks.tickets = slices.Delete(c.acks.tickets, i, i+1)
}
