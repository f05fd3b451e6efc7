package client

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"

	"github.com/lxzan/gws"
)

// closeWriteTimeout bounds the close frame write (and cuts short a stuck write).
const closeWriteTimeout = time.Second

// conn is one WebSocket connection of a Client. It implements gws.Event; gws
// calls those methods from the single read loop goroutine.
type conn struct {
	c       *Client       // Static.
	id      uint64        // Static; connection number, for logs.
	log     *slog.Logger  // Static.
	ws      *gws.Conn     // Set by start, before the read loop runs; static after.
	helloCh chan struct{} // Static; closed by the read loop at the first hello.
	closed  chan struct{} // Static; closed when the read loop has ended.
	closing atomic.Bool   // Set by closeNormal.

	writeMu sync.Mutex // Serializes all writes and their deadlines; seq order is write order.
	nextSeq int64      // Guarded by writeMu: seq of the last binary frame written.

	mu      sync.Mutex         // Guards the fields below.
	pending map[int64]*Pending // frames sent and not yet answered, by seq
	lostErr error              // set when the read loop ends; no pending is added after

	// Owned by the read loop.
	info     *FrameInfo // the last `frame` event, waiting for its binary frame
	gotHello bool
	pics     pictures // each sender's picture, for patches (patch.go)
}

func newConn(c *Client, id uint64) *conn {
	return &conn{
		c:       c,
		id:      id,
		log:     c.log.With("conn", id),
		helloCh: make(chan struct{}),
		closed:  make(chan struct{}),
		pending: make(map[int64]*Pending),
	}
}

// start runs the read loop (and the ping loop) of a connection that has
// finished its handshake.
func (cn *conn) start(ws *gws.Conn) {
	cn.ws = ws
	go func() {
		defer close(cn.closed)
		ws.ReadLoop()
	}()
	if cn.c.cfg.PingInterval > 0 {
		go cn.pingLoop()
	}
}

// cause returns why the connection ended (valid after closed).
func (cn *conn) cause() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.lostErr
}

func (cn *conn) pingLoop() {
	t := time.NewTicker(cn.c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.closed:
			return
		case <-t.C:
			if err := cn.write(gws.OpcodePing, nil, time.Now().Add(cn.c.cfg.WriteTimeout)); err != nil {
				return
			}
		}
	}
}

// write writes one message with a write deadline.
func (cn *conn) write(op gws.Opcode, payload []byte, deadline time.Time) error {
	cn.writeMu.Lock()
	defer cn.writeMu.Unlock()
	if cn.closing.Load() {
		return ErrClosed
	}
	_ = cn.ws.NetConn().SetWriteDeadline(deadline)
	return cn.ws.WriteMessage(op, payload)
}

// closeNormal sends close 1000 and closes the socket. A write stuck on a
// stalled server is cut short first.
func (cn *conn) closeNormal() {
	cn.closing.Store(true)
	nc := cn.ws.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	cn.writeMu.Lock()
	defer cn.writeMu.Unlock()
	_ = nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_ = cn.ws.WriteClose(wire.CloseNormal, nil)
}

// touch pushes the read deadline forward: something arrived.
func (cn *conn) touch(ws *gws.Conn) {
	if d := cn.c.cfg.ReadTimeout; d > 0 {
		_ = ws.NetConn().SetReadDeadline(time.Now().Add(d))
	}
}

// OnOpen is called by gws when the read loop starts.
func (cn *conn) OnOpen(ws *gws.Conn) { cn.touch(ws) }

// OnPing answers with a pong.
func (cn *conn) OnPing(ws *gws.Conn, payload []byte) {
	cn.touch(ws)
	_ = cn.write(gws.OpcodePong, payload, time.Now().Add(cn.c.cfg.WriteTimeout))
}

// OnPong only notes that the server is alive.
func (cn *conn) OnPong(ws *gws.Conn, _ []byte) { cn.touch(ws) }

// OnClose fails every frame still waiting for its answer.
func (cn *conn) OnClose(_ *gws.Conn, err error) {
	var cause error
	var ce *gws.CloseError
	switch {
	case cn.closing.Load():
		cause = ErrClosed
	case errors.As(err, &ce):
		cause = &CloseError{Code: ce.Code, Reason: string(ce.Reason)}
	case err == nil:
		cause = errors.New("connection ended")
	default:
		cause = err
	}
	lost := fmt.Errorf("%w: %w", ErrConnectionLost, cause)
	cn.mu.Lock()
	cn.lostErr = cause
	pending := cn.pending
	cn.pending = nil
	cn.mu.Unlock()
	for _, p := range pending {
		cn.c.lost.Add(1)
		p.resolve(Ack{}, lost)
	}
	cn.log.Debug("connection ended", "cause", cause, "unanswered", len(pending))
}

// OnMessage copies the message (gws reuses its buffer) and dispatches it.
func (cn *conn) OnMessage(ws *gws.Conn, msg *gws.Message) {
	b := bytes.Clone(msg.Bytes())
	op := msg.Opcode
	_ = msg.Close()
	cn.touch(ws)
	switch op {
	case gws.OpcodeText:
		cn.onText(b)
	case gws.OpcodeBinary:
		cn.onBinary(b)
	}
}

func (cn *conn) onText(b []byte) {
	ev, err := ParseEvent(b)
	if err != nil {
		cn.log.Debug("bad event from server", "err", err)
		return
	}
	switch ev := ev.(type) {
	case *Hello:
		cn.c.mu.Lock()
		cn.c.hello = *ev
		// The server's id is the one in force, even when it is not the one
		// asked for (held by someone else, and not proven).
		if ev.Client != "" {
			cn.c.clientID = ev.Client
			cn.c.resume = ev.Resume
		}
		cn.c.mu.Unlock()
		cn.pics.maxPixels = ev.MaxPixels
		if !cn.gotHello {
			cn.gotHello = true
			close(cn.helloCh)
		}
	case *FrameInfo:
		cn.info = ev
		return
	case *Ack:
		if p := cn.take(ev.Seq); p != nil {
			cn.c.acked.Add(1)
			p.resolve(*ev, nil)
		}
		return
	case *ErrorEvent:
		if ev.Seq > 0 {
			if p := cn.take(ev.Seq); p != nil {
				cn.c.rejected.Add(1)
				p.resolve(Ack{}, &RejectError{Code: ev.Code, Message: ev.Message, Seq: ev.Seq})
				return
			}
		}
	}
	if n := cn.c.events.push(ev, len(b)); n > 0 {
		cn.log.Debug("events dropped: reader too slow", "dropped", n)
	}
}

func (cn *conn) onBinary(b []byte) {
	f := Frame{Data: b, Received: time.Now()}
	if cn.info != nil {
		f.Info = *cn.info
		cn.info = nil
	}
	switch {
	case f.Info.Patch:
		info, pic, err := cn.pics.apply(f.Info, b)
		if err != nil {
			cn.c.badPatches.Add(1)
			cn.log.Warn("patch dropped", "err", err)
			return
		}
		f.Patch = &Patch{Info: f.Info, Data: b}
		f.Info, f.Data = info, pic
	case f.Info.Client != "":
		cn.pics.full(f.Info.Client, b)
	}
	if n := cn.c.frames.push(f, len(b)); n > 0 {
		cn.log.Debug("frames dropped: reader too slow", "dropped", n)
	}
}

// take removes and returns the pending frame with this seq, if any.
func (cn *conn) take(seq int64) *Pending {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	p := cn.pending[seq]
	delete(cn.pending, seq)
	return p
}
