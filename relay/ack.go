package relay

import "time"

// Held acks. A sender's ack is its receipt, and the sender's client paces
// itself on acks. When a frame reaches subscribers that all still have an
// older frame of the same sender waiting (every one of them is behind),
// acking at once would only invite frames that replace each other unseen.
// So the relay then holds the ack until the first subscriber writes the
// frame, or ackHoldMax passes, whichever comes first. One subscriber that
// keeps up is enough for acks at once, so a stalled viewer never slows the
// sender. Every frame still gets exactly one answer; a held ack may come
// after the answers to later frames: match answers by seq.

// ackHoldMax bounds how long an ack is held.
const ackHoldMax = time.Second

// noteQueued counts a local subscriber that queued e; fresh means it had no
// older frame of e's sender pending.
func (e *Envelope) noteQueued(fresh bool) {
	e.queued.Add(1)
	if fresh {
		e.fresh.Add(1)
	}
}

// written is called each time e is written to a subscriber: the first
// write releases a held ack.
func (e *Envelope) written() {
	src := e
	if e.ackOf != nil {
		src = e.ackOf
	}
	if hook := src.ackHook; hook != nil {
		src.ackOnce.Do(hook)
	}
}

// answerFrame acks an accepted frame now, or holds the ack if every local
// subscriber that took it is behind. Brokers that deliver asynchronously
// (a cluster) have queued nothing yet when Publish returns: acks go at once.
func (c *conn) answerFrame(env *Envelope, ack []byte) {
	if env.queued.Load() == 0 || env.fresh.Load() > 0 {
		env.ackOnce.Do(func() { c.reply(ack) })
		return
	}
	c.srv.metrics.acksHeld.Inc()
	time.AfterFunc(ackHoldMax, func() { env.ackOnce.Do(env.ackHook) })
}
