package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/lxzan/gws"
)

// The identity tests play an attacker against a real relay (with games),
// so they live outside package relay: relay/game imports relay.

const idWait = 15 * time.Second // generous: -race on a shared machine

func idLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(idLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type idLogWriter struct{ t testing.TB }

func (w idLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startRelay runs a relay with cfg on 127.0.0.1:0 and returns its ws base.
func startRelay(t *testing.T, cfg relay.Config) (*relay.Server, string) {
	t.Helper()
	srv, err := relay.New(cfg, idLogger(t))
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return srv, "ws" + strings.TrimPrefix(hs.URL, "http")
}

type idMsg struct {
	op   gws.Opcode
	data []byte
	ev   map[string]any
}

func (m idMsg) typ() string   { s, _ := m.ev["type"].(string); return s }
func (m idMsg) event() string { s, _ := m.ev["event"].(string); return s }
func (m idMsg) str(k string) string {
	s, _ := m.ev[k].(string)
	return s
}

func (m idMsg) String() string {
	if m.op == gws.OpcodeBinary {
		return "a binary frame"
	}
	return "text " + string(m.data)
}

// idClient is a real gws client that keeps every byte its socket read, to
// check what the relay ever told it.
type idClient struct {
	t      *testing.T
	label  string
	ws     *gws.Conn
	msgs   chan idMsg
	closed chan struct{}
	hello  idMsg

	mu  sync.Mutex // guards raw
	raw []byte
}

type idHandler struct {
	gws.BuiltinEventHandler
	c *idClient
}

func (h idHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	x := idMsg{op: m.Opcode, data: bytes.Clone(m.Bytes())}
	if x.op == gws.OpcodeText {
		_ = json.Unmarshal(x.data, &x.ev)
	}
	select {
	case h.c.msgs <- x:
	default:
		h.c.t.Errorf("%s: test client buffer full", h.c.label)
	}
}

func (h idHandler) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }
func (h idHandler) OnClose(*gws.Conn, error)     { close(h.c.closed) }

type idRecConn struct {
	net.Conn
	c *idClient
}

func (r idRecConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.c.mu.Lock()
	r.c.raw = append(r.c.raw, p[:n]...)
	r.c.mu.Unlock()
	return n, err
}

type idDialer func(network, addr string) (net.Conn, error)

func (d idDialer) Dial(network, addr string) (net.Conn, error) { return d(network, addr) }

// connect opens base/ws/room?query and reads its hello.
func connect(t *testing.T, base, room string, q url.Values) *idClient {
	t.Helper()
	c := &idClient{t: t, label: q.Get("name"), msgs: make(chan idMsg, 4096), closed: make(chan struct{})}
	ws, _, err := gws.NewClient(idHandler{c: c}, &gws.ClientOption{
		Addr:               base + "/ws/" + room + "?" + q.Encode(),
		ReadMaxPayloadSize: 16 << 20,
		NewDialer: func() (gws.Dialer, error) {
			return idDialer(func(network, addr string) (net.Conn, error) {
				nc, err := net.Dial(network, addr)
				if err != nil {
					return nil, err
				}
				return idRecConn{Conn: nc, c: c}, nil
			}), nil
		},
	})
	if err != nil {
		t.Fatalf("%s: dial: %v", c.label, err)
	}
	c.ws = ws
	go ws.ReadLoop()
	t.Cleanup(c.close)
	c.hello = c.expect("hello")
	return c
}

// as is the query of a client that asks for id (and proves it with
// resume, when not empty).
func as(name, id, resume string) url.Values {
	q := url.Values{"name": {name}, "client": {id}}
	if resume != "" {
		q.Set("resume", resume)
	}
	return q
}

func (c *idClient) close() {
	_ = c.ws.WriteClose(1000, nil)
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		_ = c.ws.NetConn().Close()
		<-c.closed
	}
}

func (c *idClient) client() string { return c.hello.str("client") }
func (c *idClient) resume() string { return c.hello.str("resume") }

func (c *idClient) rawBytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.raw)
}

func (c *idClient) next() idMsg {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(idWait):
		c.t.Fatalf("%s: no message within %s", c.label, idWait)
		return idMsg{}
	}
}

func (c *idClient) expect(typ string) idMsg {
	c.t.Helper()
	m := c.next()
	if m.op != gws.OpcodeText || m.typ() != typ {
		c.t.Fatalf("%s: got %s, want a %q event", c.label, m, typ)
	}
	return m
}

// until reads messages until one satisfies ok, and returns it.
func (c *idClient) until(what string, ok func(idMsg) bool) idMsg {
	c.t.Helper()
	deadline := time.After(idWait)
	for {
		select {
		case m := <-c.msgs:
			if ok(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("%s: no %s within %s", c.label, what, idWait)
			return idMsg{}
		}
	}
}

func (c *idClient) untilGame(ev string) idMsg {
	c.t.Helper()
	return c.until("game "+ev, func(m idMsg) bool { return m.typ() == "game" && m.event() == ev })
}

func (c *idClient) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteString(s); err != nil {
		c.t.Fatalf("%s: send: %v", c.label, err)
	}
}

func (c *idClient) chat(text string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"type": "chat", "text": text})
	c.send(string(b))
}

func (c *idClient) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(gws.OpcodeBinary, b); err != nil {
		c.t.Fatalf("%s: send binary: %v", c.label, err)
	}
}

// solidPNG is an 8×8 PNG of one colour, so that layers can be told apart.
func solidPNG(t *testing.T, r, g, b uint8) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for y := range 8 {
		for x := range 8 {
			img.Set(x, y, color.NRGBA{R: r, G: g, B: b, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// layersOf reads a late joiner's n layers (frame events and their
// images, right after hello), by client.
func layersOf(c *idClient, n int) map[string][]byte {
	c.t.Helper()
	out := map[string][]byte{}
	for len(out) < n {
		m := c.until("a layer", func(m idMsg) bool { return m.typ() == "frame" })
		img := c.next()
		if img.op != gws.OpcodeBinary {
			c.t.Fatalf("%s: got %s after a frame event, want its image", c.label, img)
		}
		out[m.str("client")] = img.data
	}
	return out
}
