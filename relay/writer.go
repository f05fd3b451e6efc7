package relay

import (
	"errors"
	"os"
	"time"

	"github.com/lxzan/gws"
)

// The writer of a connection is a chain, not a goroutine: writeNext pops one
// item and hands its prepared frames to gws, whose per-connection write
// queue runs them one at a time; the completion callback pops the next. So
// gws's own (unbounded) queue never holds more than one item of ours, an
// idle connection has no writer goroutine, and every write has a deadline.

// writeNext writes the next queued item, if any. Only one chain runs per
// connection: outQueue.running is its token.
func (c *conn) writeNext() {
	it, ok := c.q.pop()
	if !ok {
		return
	}
	if err := c.ws.NetConn().SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout)); err != nil {
		c.writeFailed(err)
		return
	}
	done := func(err error) { c.written(it, err) }
	if it.env == nil {
		if err := it.text.Broadcast(c.ws, done); err != nil {
			c.writeFailed(err)
		}
		return
	}
	text, bin := it.env.prepared()
	if bin == nil {
		if err := text.Broadcast(c.ws, done); err != nil {
			c.writeFailed(err)
		}
		return
	}
	if err := text.Broadcast(c.ws, nil); err != nil {
		c.writeFailed(err)
		return
	}
	if err := bin.Broadcast(c.ws, done); err != nil {
		c.writeFailed(err)
	}
}

// written runs on gws's write goroutine when an item's last frame is out.
func (c *conn) written(it outItem, err error) {
	if it.oneOff {
		_ = it.text.Close()
	}
	if err != nil {
		c.writeFailed(err)
		return
	}
	m := c.srv.metrics
	m.bytesOut.Add(float64(it.size))
	if it.env != nil && it.env.Kind == KindFrame {
		m.deliveries.Inc()
		m.publishWrite.Observe(time.Since(time.UnixMilli(it.env.TS)).Seconds())
	}
	c.writeNext()
}

// writeFailed ends the connection after a failed write. A write that timed
// out means the subscriber is not reading: it is cut off as a slow consumer.
func (c *conn) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.closeWith(CloseSlowConsumer, reasonSlowConsumer, "too slow: a write did not complete in time")
		return
	}
	if errors.Is(err, gws.ErrConnClosed) || c.closing.Load() {
		c.q.close()
		return
	}
	c.closeWith(CloseGoingAway, reasonError, "write failed")
}
