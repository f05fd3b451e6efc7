package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/client"
	"github.com/canvasrelay/canvasrelay/relay/wire"
	"github.com/lxzan/gws"
)

// Subscriber readers (Options.Reader).
const (
	// ReaderClient reads with the project's client (relay/client): every
	// frame is copied and every event parsed, as an application would.
	ReaderClient = "client"
	// ReaderLite reads with bare gws and notes only each frame's seq, size
	// and arrival: on a small machine, where the bench's own subscribers
	// share the CPU with the server, it leaves more of it to the server.
	ReaderLite = "lite"
)

// liteConn is a subscriber on bare gws. It is a tiny adapter over the
// wire contract, not a client: it answers pings, reads the seq of each
// frame event (the whole event only when a rendition is checked), and
// records the binary frame that follows.
type liteConn struct {
	gws.BuiltinEventHandler
	s      *subscriber
	ws     *gws.Conn
	ended  chan struct{} // closed by OnClose
	hello  chan struct{} // closed at the server's hello: the subscriber has joined
	closer sync.Once

	// Owned by the read loop.
	info     client.FrameInfo // the last frame event, for the next binary frame
	have     bool
	gotHello bool
}

// liteReadLimit is the largest message a lite reader accepts.
const liteReadLimit = 64 << 20

func dialLite(ctx context.Context, roomURL, clientID string, s *subscriber) (*liteConn, error) {
	u, err := url.Parse(roomURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("client", clientID)
	u.RawQuery = q.Encode()
	lc := &liteConn{s: s, ended: make(chan struct{}), hello: make(chan struct{})}
	ws, err := dialGws(ctx, u, lc, "lite")
	if err != nil {
		return nil, err
	}
	lc.ws = ws
	go func() {
		defer close(s.done)
		ws.ReadLoop()
	}()
	// Like the project's client, a subscriber counts as joined at its hello:
	// the relay sends hello once the member is in the room, after the
	// retained layers are queued.
	select {
	case <-lc.hello:
		return lc, nil
	case <-lc.ended:
		return nil, fmt.Errorf("lite: connection ended before hello")
	case <-ctx.Done():
		_ = lc.Close()
		return nil, fmt.Errorf("lite: no hello: %w", ctx.Err())
	}
}

// Close sends close 1000 and waits (bounded) for the read loop to end.
func (lc *liteConn) Close() error {
	lc.closer.Do(func() {
		_ = lc.ws.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
		_ = lc.ws.WriteClose(1000, nil)
		select {
		case <-lc.ended:
		case <-time.After(closeWait / 2):
			_ = lc.ws.NetConn().Close()
			<-lc.ended
		}
	})
	return nil
}

// Dropped is 0: the lite reader records in its read loop and drops nothing.
func (lc *liteConn) Dropped() uint64 { return 0 }

func (lc *liteConn) OnClose(*gws.Conn, error) { close(lc.ended) }

func (lc *liteConn) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }

var (
	frameEventPrefix = []byte(`{"type":"` + wire.TypeFrame + `"`)
	helloEventPrefix = []byte(`{"type":"` + wire.TypeHello + `"`)
)

func (lc *liteConn) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	switch m.Opcode {
	case gws.OpcodeText:
		b := m.Bytes()
		if !lc.gotHello && bytes.HasPrefix(b, helloEventPrefix) {
			lc.gotHello = true
			close(lc.hello)
			return
		}
		if !bytes.HasPrefix(b, frameEventPrefix) {
			return
		}
		lc.info, lc.have = client.FrameInfo{}, true
		if lc.s.rend != nil {
			if err := json.Unmarshal(b, &lc.info); err != nil {
				lc.have = false
			}
			return
		}
		lc.info.Seq = seqOf(b)
		lc.info.Format = "?" // an event came: the seq is the sender's
	case gws.OpcodeBinary:
		info := client.FrameInfo{}
		if lc.have {
			info, lc.have = lc.info, false
		}
		lc.s.record(info, m.Data.Len(), time.Now())
	}
}

// seqOf finds the number after "seq": in a frame event without decoding it.
func seqOf(b []byte) int64 {
	i := bytes.Index(b, []byte(`"seq":`))
	if i < 0 {
		return 0
	}
	b = b[i+6:]
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	n, _ := strconv.ParseInt(string(b[:j]), 10, 64)
	return n
}

// dialGws opens a gws client connection to u (with the relay's
// subprotocol) whose events go to h, within rawHandshakeTimeout and ctx.
// what names the client in errors.
func dialGws(ctx context.Context, u *url.URL, h gws.Event, what string) (*gws.Conn, error) {
	hdr := http.Header{}
	hdr.Set("Sec-WebSocket-Protocol", wire.Subprotocol)
	ctx, cancel := context.WithTimeout(ctx, rawHandshakeTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("%s dial: %w", what, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	ws, _, err := gws.NewClientFromConn(h, &gws.ClientOption{
		Addr: u.String(), RequestHeader: hdr, ReadMaxPayloadSize: liteReadLimit, HandshakeTimeout: rawHandshakeTimeout,
	}, nc)
	if !stop() || err != nil {
		_ = nc.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("%s handshake: %w", what, err)
	}
	return ws, nil
}
