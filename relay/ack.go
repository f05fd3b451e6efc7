package relay

import (
	"sync"
	"time"
)

// Held acks. A sender's ack is its receipt, and senders pace themselves on
// acks. When a frame reaches local subscribers of whom most still have an
// older frame of the same sender waiting (they are behind), acking at once
// would only invite frames that replace each other unseen: work for the
// relay, nothing for the viewers. So the relay then holds the ack until
// half of those subscribers have taken the frame, or ackHoldMax passes. The
// sender is paced to its median viewer: a minority of slow or stalled
// viewers never slows it (they get the newest frame when they can). Every
// frame still gets exactly one answer; a held ack is released with, or
// before, the acks of later frames, and may come after later errors: match
// answers by seq.

// ackHoldMax bounds how long an ack is held.
const ackHoldMax = time.Second

// maxHeldAcks bounds the acks one connection holds; past it the oldest goes.
const maxHeldAcks = 64

// noteQueued counts a local subscriber that queued e; fresh means it had no
// older frame of e's sender pending.
func (e *Envelope) noteQueued(fresh bool) {
	e.queued.Add(1)
	if fresh {
		e.fresh.Add(1)
	}
}

// written is called each time e is written to a subscriber; enough writes
// release a held ack.
func (e *Envelope) written() {
	src := e
	if e.ackOf != nil {
		src = e.ackOf
	}
	if src.ackHook == nil {
		return
	}
	n := src.writes.Add(1)
	if need := src.ackNeed.Load(); need > 0 && n >= need {
		src.ackHolder.releaseAcks(src.Seq)
	}
}

// heldAcks are the acks a connection holds, oldest first.
type heldAcks struct {
	mu   sync.Mutex
	envs []*Envelope
}

// answerFrame acks an accepted frame now, or holds the ack while most local
// subscribers that took it are behind. Brokers that deliver asynchronously
// (a cluster) have queued nothing yet when Publish returns: acks go at once.
func (c *conn) answerFrame(env *Envelope, ack []byte) {
	q, f := env.queued.Load(), env.fresh.Load()
	if q == 0 || 2*f >= q {
		env.ackOnce.Do(func() { c.reply(ack) })
		return
	}
	c.srv.metrics.acksHeld.Inc()
	env.ackHolder = c
	c.acks.mu.Lock()
	if len(c.acks.envs) >= maxHeldAcks {
		old := c.acks.envs[0]
		c.acks.envs = c.acks.envs[1:]
		old.ackOnce.Do(old.ackHook)
	}
	c.acks.envs = append(c.acks.envs, env)
	c.acks.mu.Unlock()
	need := (q + 1) / 2
	env.ackNeed.Store(need)
	if env.writes.Load() >= need { // the writes may have come first
		c.releaseAcks(env.Seq)
	}
	time.AfterFunc(ackHoldMax, func() { c.releaseAcks(env.Seq) })
}

// releaseAcks sends the held acks of frames up to seq.
func (c *conn) releaseAcks(seq uint64) {
	c.acks.mu.Lock()
	defer c.acks.mu.Unlock()
	i := 0
	for ; i < len(c.acks.envs) && c.acks.envs[i].Seq <= seq; i++ {
		e := c.acks.envs[i]
		e.ackOnce.Do(e.ackHook)
		c.acks.envs[i] = nil
	}
	c.acks.envs = c.acks.envs[i:]
}
