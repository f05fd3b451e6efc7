package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/lxzan/gws"
)

// The gws.Event methods of Server: each runs on a connection's read
// goroutine.

// OnOpen joins the room. It runs on the connection's read goroutine.
func (s *Server) OnOpen(socket *gws.Conn) {
	c := connOf(socket)
	if c.closing.Load() {
		return
	}
	if err := c.room.join(c); err != nil {
		c.log.Error("join", "err", err)
		c.closeWith(CloseGoingAway, reasonError, "could not join the room")
		return
	}
	c.joined = true
	c.log.Debug("open", "remote", socket.RemoteAddr().String())
}

// OnClose leaves the room and accounts for the reason.
func (s *Server) OnClose(socket *gws.Conn, err error) {
	c := connOf(socket)
	c.closing.Store(true)
	c.closeQueue()
	if c.joined {
		c.room.leave(c)
	}
	s.release(c.room, c, c.ip)
	s.releaseClient(c.room, c.client)
	reason, code := classifyClose(c, err)
	s.metrics.disconnects.WithLabelValues(reason, strconv.Itoa(code)).Inc()
	s.metrics.connections.Dec()
	lvl := slog.LevelDebug
	if reason == reasonError {
		lvl = slog.LevelWarn
	}
	c.log.Log(context.Background(), lvl, "closed", "reason", reason, "code", code, "err", err, "dur", time.Since(c.start).Round(time.Millisecond))
	s.conns.Done()
}

func classifyClose(c *conn, err error) (string, int) {
	if r := c.reason.Load(); r != nil {
		return r.reason, r.code
	}
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return reasonClient, int(ce.Code)
	}
	if sc, ok := err.(interface{ Uint16() uint16 }); ok {
		code := int(sc.Uint16())
		if code == CloseTooBig {
			return reasonTooBig, code
		}
		return reasonError, code
	}
	// The relay sets no read deadlines (pingLoop closes silent peers with
	// 4003), so a timeout is a write that did not finish: a slow consumer.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return reasonSlowConsumer, CloseSlowConsumer
	}
	return reasonClient, closeAbnormal // the peer went away without a close frame
}

// OnPing answers with a pong through the connection's queue.
func (s *Server) OnPing(socket *gws.Conn, payload []byte) {
	c := connOf(socket)
	c.touch()
	c.prog.control(len(payload))
	c.push(outItem{wire: encodeFrame(opPong, payload), size: len(payload) + itemOverhead}, false)
}

// OnPong notes that the peer is alive.
func (s *Server) OnPong(socket *gws.Conn, payload []byte) {
	c := connOf(socket)
	c.touch()
	c.prog.control(len(payload))
}

// OnMessage handles one message from the peer. gws reuses its buffer after
// this returns.
func (s *Server) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(socket)
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	c.prog.messageDone(now)
	if c.closing.Load() {
		return
	}
	switch msg.Opcode {
	case gws.OpcodeBinary:
		c.onBinary(msg.Bytes())
	case gws.OpcodeText:
		c.onText(msg.Bytes())
	}
}
