package relay

import (
	"errors"
	"net"
	"os"
	"time"
)

// The writer. A connection has at most one writer at a time: whoever holds
// the queue's token (outQueue.running). A push to an idle queue starts a
// writer goroutine; when the queue runs dry the writer parks for up to
// writerLinger, and a push in that time wakes it instead of starting a new
// goroutine. So a subscriber that gets a frame every few milliseconds keeps
// one goroutine, and an idle connection has none.
//
// A writer that finds several items queued writes them with one vectored
// write (net.Buffers: writev on TCP) under one deadline. A frame's event and
// image stay one buffer (wire.go). Each write has a deadline; a subscriber
// that does not take a write within Config.WriteTimeout is cut off.

// writerLinger is how long an idle writer waits for more before it exits.
const writerLinger = 50 * time.Millisecond

// A batch holds at most maxBatchItems items and, past its first item, at
// most maxBatchBytes: one deadline covers the whole batch.
const (
	maxBatchItems = 16
	maxBatchBytes = 1 << 20
)

// writeLoop writes queued items, parking between bursts, until the queue
// stays empty for writerLinger or closes. It holds the writer token.
func (c *conn) writeLoop() {
	c.srv.writerStarts.Add(1)
	var (
		batch []outItem
		bufs  net.Buffers
		carry outItem // a close item popped after a batch, written next
		timer *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		batch = batch[:0]
		if carry.closeCode != 0 {
			batch, carry = append(batch, carry), outItem{}
		} else {
			batch, carry = c.q.popBatch(batch)
		}
		if len(batch) == 0 {
			if timer == nil {
				timer = time.NewTimer(writerLinger)
			} else {
				timer.Reset(writerLinger)
			}
			if !c.q.park(timer.C) {
				return
			}
			continue
		}
		if !c.writeItems(batch, &bufs) {
			return
		}
		clear(batch) // let the envelopes go
	}
}

// drain writes at most limit items while holding the writer token; if items
// remain after limit, a writer goroutine takes over. The reader goroutine
// uses it to write its own answer when the writer is idle (reply).
func (c *conn) drain(limit int) {
	var bufs net.Buffers
	for n := 0; n < limit; n++ {
		it, ok := c.q.pop()
		if !ok {
			return
		}
		if !c.writeItems([]outItem{it}, &bufs) {
			return
		}
	}
	if !c.q.releaseIfIdle() {
		go c.writeLoop()
	}
}

// writeItems writes items (a close item only alone) and reports whether
// the connection is still fit to write.
func (c *conn) writeItems(items []outItem, bufs *net.Buffers) bool {
	m := c.srv.metrics
	if it := items[0]; it.closeCode != 0 {
		c.sendClose(it.closeCode, it.closeText)
		return false
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout)); err != nil {
		c.writeFailed(err)
		return false
	}
	var err error
	n := 0
	if len(items) == 1 {
		_, err = c.nc.Write(items[0].wire)
		n = len(items[0].wire)
	} else {
		b := (*bufs)[:0]
		for _, it := range items {
			b = append(b, it.wire)
			n += len(it.wire)
		}
		*bufs = b
		err = c.nc.writeBuffers(&b) // consumes b, not *bufs
		clear(*bufs)
	}
	if err != nil {
		for _, it := range items {
			if it.env != nil && it.env.Kind == KindFrame {
				m.dropped.WithLabelValues(dropWriteFailed).Inc()
			}
		}
		c.writeFailed(err)
		return false
	}
	m.bytesOut.Add(float64(n))
	for _, it := range items {
		if it.env != nil && it.env.Kind == KindFrame {
			it.env.ticket().wroteOne()
			for _, t := range it.passed {
				t.passedOne()
			}
			m.deliveries.Inc()
			m.patchWritten(it.env, len(it.wire))
			m.publishWrite.Observe(time.Since(time.UnixMilli(it.env.TS)).Seconds())
		}
	}
	return true
}

// popBatch appends the items to write next to batch: up to maxBatchItems,
// and past the first, up to maxBatchBytes. A close item comes alone: one
// found after others is returned as carry, to be written next. The caller
// holds the writer token and keeps it.
func (q *outQueue) popBatch(batch []outItem) (_ []outItem, carry outItem) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return batch, outItem{}
	}
	bytes := 0
	for len(batch) < maxBatchItems && (len(batch) == 0 || bytes < maxBatchBytes) {
		it, ok := q.popLocked()
		if !ok {
			break
		}
		if it.closeCode != 0 && len(batch) > 0 {
			return batch, it
		}
		batch = append(batch, it)
		bytes += len(it.wire)
		if it.closeCode != 0 {
			break
		}
	}
	return batch, outItem{}
}

// park is called by the writer when it found nothing to write. It waits
// for a push or for expired, and reports whether the writer should go on
// (true) or has given up the token (false: the queue closed, or stayed
// empty).
func (q *outQueue) park(expired <-chan time.Time) bool {
	q.mu.Lock()
	if q.closed {
		q.running = false
		q.mu.Unlock()
		return false
	}
	if !q.idleLocked() {
		q.mu.Unlock()
		return true
	}
	if q.wake == nil {
		q.wake = make(chan struct{}, 1)
	}
	q.parked = true
	wake := q.wake
	q.mu.Unlock()
	select {
	case <-wake:
		return true
	case <-expired:
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.parked { // nobody came: give up the token
		q.parked = false
		q.running = false
		return false
	}
	<-wake // a push unparked it as the timer fired: take its signal
	return true
}

// unparkLocked wakes the parked writer.
func (q *outQueue) unparkLocked() {
	q.parked = false
	q.wake <- struct{}{} // buffered, and sent once per park
}

// writeFailed ends the connection after a failed write. A write that timed
// out means the subscriber is not reading: it is cut off as a slow consumer.
func (c *conn) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.closeWith(CloseSlowConsumer, reasonSlowConsumer, "too slow: a write did not complete in time")
		return
	}
	if errors.Is(err, net.ErrClosed) || c.closing.Load() {
		c.closeQueue()
		return
	}
	// Reset or broken pipe: the peer went away without a close frame.
	c.closeWith(closeAbnormal, reasonClient, "")
}
