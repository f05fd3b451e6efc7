package relay

import (
	"errors"
	"net"
	"os"
	"time"
)

// writeLoop writes queued items until the queue is empty, then exits: an
// idle connection has no writer goroutine. outQueue.running makes sure only
// one runs per connection. Each write has a deadline; a subscriber that does
// not take a write within Config.WriteTimeout is cut off.
func (c *conn) writeLoop() { c.drain(-1) }

// drain writes at most limit items (all, if limit < 0) while holding the
// writer token; if items remain after limit, a writer goroutine takes over.
func (c *conn) drain(limit int) {
	m := c.srv.metrics
	timeout := c.srv.cfg.WriteTimeout
	for n := 0; limit < 0 || n < limit; n++ {
		it, ok := c.q.pop()
		if !ok {
			return
		}
		if it.closeCode != 0 {
			c.sendClose(it.closeCode, it.closeText)
			return
		}
		if err := c.nc.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			c.writeFailed(err)
			return
		}
		if _, err := c.nc.Write(it.wire); err != nil {
			if it.env != nil && it.env.Kind == KindFrame {
				m.dropped.WithLabelValues(dropWriteFailed).Inc()
			}
			c.writeFailed(err)
			return
		}
		m.bytesOut.Add(float64(len(it.wire)))
		if it.env != nil && it.env.Kind == KindFrame {
			it.env.ticket().wroteOne()
			m.deliveries.Inc()
			m.publishWrite.Observe(time.Since(time.UnixMilli(it.env.TS)).Seconds())
		}
	}
	if !c.q.releaseIfIdle() {
		go c.writeLoop()
	}
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
