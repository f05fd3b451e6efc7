package relay

import (
	"sync"
	"sync/atomic"
	"time"
)

// Held acks. A sender's ack is its receipt, and senders pace themselves on
// acks. When a frame reaches local subscribers of whom most still have an
// older frame of the same sender waiting (they are behind), acking at once
// would only invite frames that replace each other unseen: work for the
// relay, nothing for the viewers. So the relay then holds the ack until
// half of those subscribers have taken the frame, or a later frame's ack is
// released, or ackHoldMax passes. The sender is paced to its median viewer:
// a minority of slow or stalled viewers never slows it (they get the newest
// frame when they can). Every frame still gets exactly one answer; a held
// ack may come after the answers to later frames: match answers by seq.

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

	queued atomic.Int32 // local subscribers that queued the frame
	fresh  atomic.Int32 // of those, the ones with no older frame of the sender pending
	writes atomic.Int32 // writes of the frame (or its renditions) to subscribers
	need   atomic.Int32 // writes that release the held ack; 0 while not held
	holder *conn        // the sender holding it; set before need
}

func (t *ackTicket) fire() { t.once.Do(t.send) }

// noteQueued counts a local subscriber that queued e; fresh means it had no
// older frame of e's sender pending.
func (e *Envelope) noteQueued(fresh bool) {
	if t := e.ack; t != nil {
		t.queued.Add(1)
		if fresh {
			t.fresh.Add(1)
		}
	}
}

// written is called each time e is written to a subscriber; enough writes
// release a held ack.
func (e *Envelope) written() {
	t := e.ack
	if e.ackOf != nil {
		t = e.ackOf.ack
	}
	if t == nil {
		return
	}
	n := t.writes.Add(1)
	if need := t.need.Load(); need > 0 && n >= need {
		t.holder.releaseAcks(t.seq)
	}
}

// heldAcks are the acks a connection holds, oldest first.
type heldAcks struct {
	mu      sync.Mutex
	tickets []*ackTicket
}

// answerFrame acks an accepted frame now, or holds the ack while most local
// subscribers that took it are behind. Brokers that deliver asynchronously
// (a cluster) have queued nothing yet when Publish returns: acks go at once.
func (c *conn) answerFrame(t *ackTicket, ack []byte) {
	q, f := t.queued.Load(), t.fresh.Load()
	if q == 0 || 2*f >= q {
		t.once.Do(func() { c.reply(ack) })
		return
	}
	c.srv.metrics.acksHeld.Inc()
	t.holder = c
	c.acks.mu.Lock()
	if len(c.acks.tickets) >= maxHeldAcks {
		c.acks.tickets[0].fire()
		c.acks.tickets = c.acks.tickets[1:]
	}
	c.acks.tickets = append(c.acks.tickets, t)
	c.acks.mu.Unlock()
	need := (q + 1) / 2
	t.need.Store(need)
	if t.writes.Load() >= need { // the writes may have come first
		c.releaseAcks(t.seq)
	}
	time.AfterFunc(ackHoldMax, func() { c.releaseAcks(t.seq) })
}

// releaseAcks sends the held acks of frames up to seq.
func (c *conn) releaseAcks(seq uint64) {
	c.acks.mu.Lock()
	defer c.acks.mu.Unlock()
	i := 0
	for ; i < len(c.acks.tickets) && c.acks.tickets[i].seq <= seq; i++ {
		c.acks.tickets[i].fire()
		c.acks.tickets[i] = nil
	}
	c.acks.tickets = c.acks.tickets[i:]
}
