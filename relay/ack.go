package relay

import (
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
// Each frame that reaches its quorum releases one held ack, the oldest: the
// sender's acks stay in order, and it gets one ack for each frame its
// median viewer took, so its frames in flight never pile up in the
// subscribers' queues. A frame replaced before most subscribers took it
// never reaches its quorum; its ack goes out with the next release (as the
// oldest), or after ackHoldMax when no later frame reaches its quorum (the
// sender stopped). Releasing those one per delivered frame, and not all at
// once, is what keeps frames from replacing each other unseen: a burst of
// acks would bring a burst of frames.
//
// Guarantees:
//   - A stalled minority never slows the sender: the quorum is half, and
//     the others' writes reach it.
//   - No ack waits more than ackHoldMax (a stalled majority, a frame
//     replaced everywhere), and at most maxHeldAcks are held.
//   - Every frame gets exactly one answer (ackTicket.fire runs once); a
//     held ack may come after the answers to later frames: match answers
//     by seq.
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
	need    atomic.Int32 // writes that make the quorum; 0 until the ack is held
	reached atomic.Bool  // the quorum was reached (it releases one ack, once)
	holder  *conn        // the sender holding it; set before need
}

func (t *ackTicket) fire() { t.once.Do(t.send) }

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
	n := t.writes.Add(1)
	if need := t.need.Load(); need > 0 && n >= need && t.reached.CompareAndSwap(false, true) {
		t.holder.releaseOldestAck()
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
		c.acks.tickets[0].fire()
		c.acks.tickets[0] = nil
		c.acks.tickets = c.acks.tickets[1:]
	}
	c.acks.tickets = append(c.acks.tickets, t)
	c.acks.mu.Unlock()
	need := (q + 1) / 2
	t.need.Store(need)
	if t.writes.Load() >= need && t.reached.CompareAndSwap(false, true) { // the writes came first
		c.releaseOldestAck()
	}
	time.AfterFunc(ackHoldMax, func() { c.releaseAcksTimedOut(t.seq) })
}

// releaseOldestAck sends the oldest held ack, if any.
func (c *conn) releaseOldestAck() {
	c.acks.mu.Lock()
	defer c.acks.mu.Unlock()
	if len(c.acks.tickets) == 0 {
		return
	}
	c.acks.tickets[0].fire()
	c.acks.tickets[0] = nil
	c.acks.tickets = c.acks.tickets[1:]
}

// releaseAcksTimedOut sends the held acks of frames up to seq: seq's ack
// has been held for ackHoldMax, and the older ones longer.
func (c *conn) releaseAcksTimedOut(seq uint64) {
	c.acks.mu.Lock()
	defer c.acks.mu.Unlock()
	i := 0
	for ; i < len(c.acks.tickets) && c.acks.tickets[i].seq <= seq; i++ {
		c.acks.tickets[i].fire()
		c.acks.tickets[i] = nil
	}
	if i > 0 {
		c.srv.metrics.acksTimedOut.Add(float64(i))
	}
	c.acks.tickets = c.acks.tickets[i:]
}
