package game

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

// wait is how long a test waits for an event that must come. It is
// generous: -race on a shared two-core machine.
const wait = 10 * time.Second

// testLogger sends logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fixture is a real relay with games, behind httptest on 127.0.0.1.
type fixture struct {
	t    *testing.T
	srv  *relay.Server
	hs   *httptest.Server
	base string // ws://127.0.0.1:port

	mu   sync.Mutex // guards refs
	refs []*referee // every referee the relay made
	down bool
}

// testConfig is a game config for tests: game seconds of 10 ms, short
// pauses, players leaving with their last connection, and the words given.
func testConfig(words ...string) Config {
	return Config{Words: words, Second: 10 * time.Millisecond, Pause: 50 * time.Millisecond, LeaveGrace: -1}
}

func startRelay(t *testing.T, cfg Config) *fixture {
	t.Helper()
	return startRelayWith(t, cfg, relay.Config{})
}

// startRelayWith is startRelay with a relay config (its Game is set here).
func startRelayWith(t *testing.T, cfg Config, rc relay.Config) *fixture {
	t.Helper()
	f := &fixture{t: t}
	cfg.Logger = testLogger(t)
	mk := Factory(cfg)
	game := func(room relay.GameRoom) relay.Game {
		g := mk(room)
		f.mu.Lock()
		f.refs = append(f.refs, g.(*referee))
		f.mu.Unlock()
		return g
	}
	rc.Game = game
	srv, err := relay.New(rc, testLogger(t))
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	f.srv = srv
	f.hs = httptest.NewServer(srv.Handler())
	f.base = "ws" + strings.TrimPrefix(f.hs.URL, "http")
	t.Cleanup(f.shutdown)
	return f
}

// shutdown stops the relay once its clients have gone (see settle).
func (f *fixture) shutdown() {
	f.settle()
	f.shutdownNow()
}

// settle waits (up to 2 s) until the relay has no connection left. A
// client that closes while Server.Shutdown closes its connection makes the
// race detector report a race inside gws (WriteClose from the relay's
// close goroutine against the connection's own close handling); that is
// the relay core's business, not the games', so these tests let clients
// finish closing first.
func (f *fixture) settle() {
	if f.down {
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	for f.connections() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// connections reads the relay's canvasrelay_connections gauge.
func (f *fixture) connections() int {
	mfs, err := f.srv.Registry().Gather()
	if err != nil {
		f.t.Fatalf("gather metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "canvasrelay_connections" && len(mf.GetMetric()) == 1 {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	f.t.Fatal("no canvasrelay_connections gauge")
	return 0
}

// shutdownNow stops the relay at once.
func (f *fixture) shutdownNow() {
	if f.down {
		return
	}
	f.down = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		f.t.Errorf("relay shutdown: %v", err)
	}
	f.hs.Close()
}

// running counts the referees with a game running (and so a timer armed).
func (f *fixture) running() int {
	f.mu.Lock()
	refs := append([]*referee(nil), f.refs...)
	f.mu.Unlock()
	n := 0
	for _, r := range refs {
		r.mu.Lock()
		if r.m != nil {
			n++
		}
		r.mu.Unlock()
	}
	return n
}

// waitIdle waits until no referee has a game running.
func (f *fixture) waitIdle() {
	f.t.Helper()
	deadline := time.Now().Add(wait)
	for f.running() != 0 {
		if time.Now().After(deadline) {
			f.t.Fatalf("games running: got %d, want 0", f.running())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// msg is one message a test client read.
type msg struct {
	op   gws.Opcode
	data []byte
	ev   map[string]any
	at   time.Time
}

func (m msg) typ() string   { s, _ := m.ev["type"].(string); return s }
func (m msg) event() string { s, _ := m.ev["event"].(string); return s }
func (m msg) String() string {
	if m.op == gws.OpcodeBinary {
		return fmt.Sprintf("a binary frame of %d bytes", len(m.data))
	}
	return "text " + string(m.data)
}

// client is a real gws client. It keeps every byte it read from its socket
// (raw), to check what the relay ever told it.
type client struct {
	t      *testing.T
	name   string
	id     string // client id
	ws     *gws.Conn
	msgs   chan msg
	closed chan struct{}

	mu  sync.Mutex // guards raw
	raw []byte
}

type handler struct {
	gws.BuiltinEventHandler
	c *client
}

func (h handler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	x := msg{op: m.Opcode, data: bytes.Clone(m.Bytes()), at: time.Now()}
	if x.op == gws.OpcodeText {
		_ = json.Unmarshal(x.data, &x.ev)
	}
	select {
	case h.c.msgs <- x:
	default:
		h.c.t.Errorf("%s: test client buffer full", h.c.name)
	}
}

func (h handler) OnPing(socket *gws.Conn, p []byte) { _ = socket.WritePong(p) }
func (h handler) OnClose(*gws.Conn, error)          { close(h.c.closed) }

// recConn records what is read from a socket.
type recConn struct {
	net.Conn
	c *client
}

func (r recConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.c.mu.Lock()
	r.c.raw = append(r.c.raw, p[:n]...)
	r.c.mu.Unlock()
	return n, err
}

type dialerFunc func(network, addr string) (net.Conn, error)

func (d dialerFunc) Dial(network, addr string) (net.Conn, error) { return d(network, addr) }

// join connects a client named name with client id id to room, and reads
// its hello.
func (f *fixture) join(room, id, name string) *client {
	f.t.Helper()
	c := f.dial(room, "client="+id+"&name="+name)
	c.expect("hello")
	return c
}

// dial connects to room with the query given (client=…&name=…), and reads
// nothing.
func (f *fixture) dial(room, query string) *client {
	f.t.Helper()
	q, _ := url.ParseQuery(query)
	name, id := q.Get("name"), q.Get("client")
	c := &client{t: f.t, name: name, id: id, msgs: make(chan msg, 4096), closed: make(chan struct{})}
	ws, _, err := gws.NewClient(handler{c: c}, &gws.ClientOption{
		Addr:               f.base + "/ws/" + room + "?" + query,
		ReadMaxPayloadSize: 16 << 20,
		NewDialer: func() (gws.Dialer, error) {
			return dialerFunc(func(network, addr string) (net.Conn, error) {
				nc, err := net.Dial(network, addr)
				if err != nil {
					return nil, err
				}
				return recConn{Conn: nc, c: c}, nil
			}), nil
		},
	})
	if err != nil {
		f.t.Fatalf("%s: dial: %v", name, err)
	}
	c.ws = ws
	go ws.ReadLoop()
	f.t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	_ = c.ws.WriteClose(1000, nil)
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		_ = c.ws.NetConn().Close()
		<-c.closed
	}
}

// rawBytes is everything read from the socket so far.
func (c *client) rawBytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.raw)
}

func (c *client) next(timeout time.Duration) msg {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(timeout):
		c.t.Fatalf("%s: no message within %s", c.name, timeout)
		return msg{}
	}
}

// expect reads the next message and checks its type.
func (c *client) expect(typ string) msg {
	c.t.Helper()
	m := c.next(wait)
	if m.op != gws.OpcodeText || m.typ() != typ {
		c.t.Fatalf("%s: got %s, want a %q event", c.name, m, typ)
	}
	return m
}

// expectGame reads the next message, skipping presence events, and checks
// that it is the game event ev.
func (c *client) expectGame(ev string) msg {
	c.t.Helper()
	for {
		m := c.next(wait)
		if m.typ() == "presence" {
			continue
		}
		if m.typ() != "game" || m.event() != ev {
			c.t.Fatalf("%s: got %s, want game event %q", c.name, m, ev)
		}
		return m
	}
}

// expectNext reads the next message, skipping presence events, and checks
// its type (and, for errors, its code).
func (c *client) expectNext(typ, code string) msg {
	c.t.Helper()
	for {
		m := c.next(wait)
		if m.typ() == "presence" {
			continue
		}
		if m.typ() != typ || (code != "" && str(m.ev, "code") != code) {
			c.t.Fatalf("%s: got %s, want %s %s", c.name, m, typ, code)
		}
		return m
	}
}

// expectNothing checks that nothing but presence arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-c.msgs:
			if m.typ() == "presence" {
				continue
			}
			c.t.Fatalf("%s: got %s, want nothing", c.name, m)
		case <-deadline:
			return
		}
	}
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteString(s); err != nil {
		c.t.Fatalf("%s: send: %v", c.name, err)
	}
}

func (c *client) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(gws.OpcodeBinary, b); err != nil {
		c.t.Fatalf("%s: send binary: %v", c.name, err)
	}
}

func (c *client) chat(text string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]string{"type": "chat", "text": text})
	c.send(string(b))
}

func (c *client) start(extra string) { c.send(`{"type":"game","action":"start"` + extra + `}`) }

func str(ev map[string]any, k string) string { s, _ := ev[k].(string); return s }

func num(ev map[string]any, k string) int { f, _ := ev[k].(float64); return int(f) }

// scoresOf turns a reveal or over event's scores into client → score, and
// the clients in their order.
func scoresOf(t *testing.T, m msg) (map[string]int, []string) {
	t.Helper()
	list, ok := m.ev["scores"].([]any)
	if !ok {
		t.Fatalf("no scores list in %s", m)
	}
	out := map[string]int{}
	var order []string
	for _, x := range list {
		e, _ := x.(map[string]any)
		out[str(e, "client")] = num(e, "score")
		order = append(order, str(e, "client"))
	}
	return out, order
}

// tinyPNG is a small valid PNG.
func tinyPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.NRGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
