package relay

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/lxzan/gws"
)

// conn is one WebSocket connection: a member of one room.
type conn struct {
	// Static after construction.
	srv    *Server
	ws     *gws.Conn
	nc     *lockedConn // the socket under ws; every write goes through it
	prog   progress    // is a message in progress, and since when
	acks   heldAcks    // acks held back (see ack.go)
	id     string      // server-assigned, unique across nodes
	client string      // stable client id from the query, or made up
	name   string      // display name
	room   *room
	rend   *rendition // the rendition this subscriber asked for; nil = original
	// patches: the subscriber asked for patches as they are (patches=1);
	// without it, it gets full frames composed from the layer log.
	patches bool
	ip      string // client address, counted for MaxConnsPerIP
	log     *slog.Logger
	q       *outQueue
	start   time.Time

	canPublish   bool      // may send images and chat (token right; true without tokens)
	canSubscribe bool      // receives the room's traffic (token right; true without tokens)
	expires      time.Time // token expiry; zero without tokens

	// Owned by the reader goroutine (gws ReadLoop: OnOpen, OnMessage).
	seq    uint64        // binary frames read, from 1, rejected ones included
	patch  *pendingPatch // a patch command waiting for its binary frame (patch.go)
	joined bool
	limits connLimits

	lastRead atomic.Int64 // unix nanos of the last frame read from the peer
	closing  atomic.Bool  // a close has begun; set once
	reason   atomic.Pointer[closeReason]
}

type closeReason struct {
	reason string
	code   int
}

// connSession is the gws session storage of a connection: it holds the conn
// and nothing else, to keep idle connections small.
type connSession struct{ c *conn }

func (s *connSession) Len() int                       { return 1 }
func (s *connSession) Load(string) (any, bool)        { return s.c, s.c != nil }
func (s *connSession) Delete(string)                  {}
func (s *connSession) Store(_ string, v any)          { s.c, _ = v.(*conn) }
func (s *connSession) Range(f func(string, any) bool) { f("conn", s.c) }

func connOf(socket *gws.Conn) *conn {
	v, _ := socket.Session().Load("conn")
	c, _ := v.(*conn)
	return c
}

func (c *conn) touch() { c.lastRead.Store(time.Now().UnixNano()) }

// onBinary handles one image from the client. Every binary frame gets
// exactly one answer: an ack or an error with its seq. Every frame spends
// the frame and byte buckets, a refused one too.
func (c *conn) onBinary(data []byte) {
	c.seq++
	seq := c.seq
	pp := c.patch // this frame is a patch (patch.go)
	c.patch = nil
	m := c.srv.metrics
	m.framesIn.Inc()
	m.bytesIn.Add(float64(len(data)))

	if !c.limits.allowFrame(time.Now(), len(data)) {
		m.framesBad.WithLabelValues(CodeRateLimited).Inc()
		c.rateLimited(seq, "frame")
		return
	}
	if !c.canPublish {
		m.framesBad.WithLabelValues(CodeForbidden).Inc()
		c.violated(CodeForbidden, "this token does not allow publishing", seq)
		return
	}
	info, err := imageproc.Inspect(data, c.srv.limits)
	if err != nil {
		code := imageproc.Code(err)
		m.framesBad.WithLabelValues(code).Inc()
		c.reply(errorEvent(code, err.Error(), seq))
		return
	}
	if g := c.room.game; g != nil && !g.AllowFrame(c.player()) {
		m.framesBad.WithLabelValues(CodeForbidden).Inc()
		c.reply(errorEvent(CodeForbidden, "only the drawer may draw during a turn", seq))
		return
	}
	if pp != nil && !c.patchAllowed(pp, seq) {
		return
	}
	data, info, err = c.ingest(data, info)
	if err != nil {
		code := imageproc.Code(err)
		msg := err.Error()
		switch {
		case errors.Is(err, errBusy):
			code, msg = CodeRateLimited, "the relay's image workers are busy; send again shortly"
		case errors.Is(err, ErrShuttingDown):
			code, msg = CodeInternal, "the relay is shutting down"
		}
		m.framesBad.WithLabelValues(code).Inc()
		c.reply(errorEvent(code, msg, seq))
		return
	}
	if pp != nil {
		c.publishPatch(pp, data, info, seq)
		return
	}
	ts := nowMillis()
	env, t, ack := c.frameEnvelope(frameEvent(c.client, c.name, seq, info, ts), data, info, seq, ts)
	if err := c.srv.broker.Publish(c.srv.ctx, env); err != nil {
		m.framesBad.WithLabelValues(CodeInternal).Inc()
		c.log.Error("publish frame", "err", err)
		t.once.Do(func() { c.reply(errorEvent(CodeInternal, "the relay could not publish this frame; try again", seq)) })
		return
	}
	m.framesOK.Inc()
	c.answerFrame(t, ack)
}

// onText handles a chat line or a command. Every text frame spends a token
// of the chat bucket before anything else, and a text frame that is not a
// valid command counts as a violation, so no flood of them is free.
func (c *conn) onText(data []byte) {
	c.srv.metrics.bytesIn.Add(float64(len(data)))
	c.patchNotFollowed()
	n, limit := len(data), maxTextBytes(c.srv.cfg)
	patchCmd := n <= limit && isPatchCommand(data) // its binary frame spends the frame buckets (patch.go)
	if !patchCmd && !c.limits.chat.Allow() {
		c.rateLimited(0, "chat")
		return
	}
	if n > limit {
		c.badRequest(fmt.Sprintf("text frame is %d bytes; the limit is %d (chat text: %d)", n, limit, c.srv.cfg.MaxChatBytes))
		return
	}
	cmd, err := parseText(data)
	switch {
	case errors.Is(err, errInvalidUTF8):
		c.closeAfterFlush(CloseInvalidData, reasonInvalidUTF8, "text frame is not valid UTF-8")
		return
	case err != nil:
		c.badRequest(err.Error())
		c.patchRefused(data, "malformed")
		return
	}
	if !c.canPublish {
		c.violated(CodeForbidden, "this token does not allow chat or commands", 0)
		return
	}
	switch cmd.Type {
	case TypeChat:
		c.onChat(cmd.Text)
	case TypeGame:
		g := c.room.game
		if g == nil {
			c.badRequest("games are not enabled on this relay")
			return
		}
		err := g.Command(c.player(), GameCommand{Action: cmd.Action, Rounds: cmd.Rounds, Seconds: cmd.Seconds})
		c.sendGameError(err)
	case TypePatch:
		c.onPatch(cmd)
	default:
		c.badRequest(fmt.Sprintf("unsupported command %q", cmd.Type))
	}
}

// onChat relays a chat line, without its control characters (CleanText).
func (c *conn) onChat(text string) {
	if len(text) > c.srv.cfg.MaxChatBytes {
		c.badRequest(fmt.Sprintf("chat text is %d bytes; the limit is %d", len(text), c.srv.cfg.MaxChatBytes))
		return
	}
	text = CleanText(text, true)
	if len(bytes.TrimSpace([]byte(text))) == 0 {
		c.badRequest("chat text is empty")
		return
	}
	if g := c.room.game; g != nil {
		handled, err := g.Chat(c.player(), text)
		if err != nil {
			c.sendGameError(err)
			return
		}
		if handled {
			return
		}
	}
	env := &Envelope{
		ID:     c.srv.nextID(),
		Kind:   KindChat,
		Room:   c.room.name,
		Origin: c.id,
		Client: c.client,
		TS:     nowMillis(),
	}
	env.Event = mustJSON(ChatEvent{Type: TypeChat, Client: c.client, Name: c.name, Text: text, TS: env.TS})
	if err := c.srv.broker.Publish(c.srv.ctx, env); err != nil {
		c.log.Error("publish chat", "err", err)
		c.reply(errorEvent(CodeInternal, "the relay could not publish this chat line; try again", 0))
		return
	}
	c.srv.metrics.chats.Inc()
}

// sendGameError answers a game's refusal.
func (c *conn) sendGameError(err error) {
	if err == nil {
		return
	}
	var ge *GameError
	if errors.As(err, &ge) {
		c.reply(errorEvent(ge.Code, ge.Message, 0))
		return
	}
	c.log.Error("game", "err", err)
	c.reply(errorEvent(CodeInternal, "the game failed to handle this", 0))
}

// sendEvent queues a text event for this connection only.
func (c *conn) sendEvent(payload []byte) {
	c.push(outItem{wire: encodeFrame(opText, payload), size: len(payload) + itemOverhead}, false)
}

// itemOverhead is what one queued event counts for beyond its payload, so
// that empty control frames still count against the event cap.
const itemOverhead = 32

// push queues an event and kicks the writer.
func (c *conn) push(it outItem, front bool) {
	kick, overflow := c.q.pushEvent(it, front)
	if overflow {
		c.closeWith(CloseQueueOverflow, reasonQueueOverflow, "outbound event queue over its cap")
		return
	}
	if kick {
		go c.writeLoop()
	}
}

// reply queues an answer (ack or error) to this connection's own message.
// It runs on the connection's read goroutine: when the writer is idle, that
// goroutine writes the answer itself rather than start a writer goroutine.
// Blocking there only slows this connection's own reading.
func (c *conn) reply(payload []byte) {
	kick, overflow := c.q.pushEvent(outItem{wire: encodeFrame(opText, payload), size: len(payload) + itemOverhead}, false)
	if overflow {
		c.closeWith(CloseQueueOverflow, reasonQueueOverflow, "outbound event queue over its cap")
		return
	}
	if kick {
		c.drain(1)
	}
}

// deliver queues an envelope published by someone else, or a retained
// layer for this late joiner. wire is a non-frame's encoding, made once for
// every member (nil: encoded here); a frame carries its own.
func (c *conn) deliver(env *Envelope, wire []byte) {
	if env.Kind != KindFrame {
		if wire == nil {
			wire = env.wireBytes()
		}
		c.push(outItem{wire: wire, env: env, size: len(env.Event) + itemOverhead}, false)
		return
	}
	r := c.q.pushFrame(env)
	if r.overflow {
		c.closeWith(CloseQueueOverflow, reasonQueueOverflow, "outbound frame queue over its cap")
		return
	}
	if r.queued {
		env.queuedTicket().queuedOne()
	}
	if r.superseded > 0 {
		c.srv.metrics.dropped.WithLabelValues(dropSuperseded).Add(float64(r.superseded))
	}
	if r.kick {
		go c.writeLoop()
	}
}

// closeWith starts closing the connection with code, once. It never blocks:
// the close frame is written by a goroutine bounded by Config.ShutdownGrace,
// and the socket is closed after it whatever the peer does. What is still
// queued is dropped.
func (c *conn) closeWith(code int, reason, text string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.reason.Store(&closeReason{reason: reason, code: code})
	c.sendClose(code, text)
}

// closeAfterFlush closes the connection with code once the events already
// queued for it (acks and errors it is owed) are written. The writer's
// deadline still bounds it.
func (c *conn) closeAfterFlush(code int, reason, text string) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.reason.Store(&closeReason{reason: reason, code: code})
	kick, overflow := c.q.pushEvent(outItem{closeCode: code, closeText: text, size: itemOverhead}, false)
	if overflow {
		c.sendClose(code, text)
		return
	}
	if kick {
		go c.writeLoop()
	}
}

// closeQueue drops what is queued for good, counting the frames lost.
func (c *conn) closeQueue() {
	if n := c.q.close(); n > 0 {
		c.srv.metrics.dropped.WithLabelValues(dropClosed).Add(float64(n))
	}
}

// sendClose drops what is queued and writes the close frame.
func (c *conn) sendClose(code int, text string) {
	c.closeQueue()
	if code == closeAbnormal { // never on the wire: the peer is gone
		_ = c.nc.Close()
		return
	}
	grace := c.srv.cfg.ShutdownGrace
	go func() {
		// A write in flight holds the socket; the deadline bounds it too.
		_ = c.nc.SetWriteDeadline(time.Now().Add(grace))
		if err := c.ws.WriteClose(uint16(code), []byte(text)); err != nil {
			_ = c.nc.Close()
		}
	}()
}
