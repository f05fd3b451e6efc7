package natsbroker

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/lxzan/gws"
	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger sends logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// natsServer is an embedded NATS server that a test can stop and start
// again on the same port and store.
type natsServer struct {
	t          testing.TB
	s          *server.Server
	port       int
	dir        string
	maxPayload int
}

// startNATS runs an embedded NATS server with JetStream on 127.0.0.1 and a
// free port, stopped when the test ends.
func startNATS(t testing.TB, maxPayload int) *natsServer {
	t.Helper()
	n := &natsServer{t: t, port: -1, dir: t.TempDir(), maxPayload: maxPayload}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	s, err := RunEmbedded(EmbeddedConfig{Port: n.port, StoreDir: n.dir, MaxPayload: n.maxPayload})
	if err != nil {
		n.t.Fatalf("start NATS: %v", err)
	}
	n.s = s
	n.port = s.Addr().(*net.TCPAddr).Port
}

func (n *natsServer) stop() {
	if n.s != nil {
		n.s.Shutdown()
		n.s.WaitForShutdown()
		n.s = nil
	}
}

func (n *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

// node is one relay node: a broker on NATS and a relay server behind
// httptest on 127.0.0.1.
type node struct {
	name string
	b    *Broker
	srv  *relay.Server
	hs   *httptest.Server
	ws   string // ws://127.0.0.1:port
}

// testConfig is the broker config of the tests: short TTL and waits.
func testConfig(url, name string) Config {
	return Config{
		URLs:           []string{url},
		NodeID:         name,
		MaxBytes:       4 << 20,
		PresenceTTL:    3 * time.Second,
		ReconnectWait:  100 * time.Millisecond,
		RequestTimeout: 2 * time.Second,
	}
}

func startNode(t testing.TB, ns *natsServer, name string, mod ...func(*Config)) *node {
	t.Helper()
	return startNodeWith(t, ns, name, nil, mod...)
}

// startNodeWith is startNode with rmod applied to the node's relay config
// (nil: none).
func startNodeWith(t testing.TB, ns *natsServer, name string, rmod func(*relay.Config), mod ...func(*Config)) *node {
	t.Helper()
	cfg := testConfig(ns.url(), name)
	cfg.Logger = testLogger(t).With("node", name)
	for _, f := range mod {
		f(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("node %s: New: %v", name, err)
	}
	rc := nodeRelayConfig(b, name, cfg)
	if rmod != nil {
		rmod(&rc)
	}
	srv, err := relay.New(rc, cfg.Logger)
	if err != nil {
		t.Fatalf("node %s: relay.New: %v", name, err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Start()
	n := &node{name: name, b: b, srv: srv, hs: hs, ws: "ws" + strings.TrimPrefix(hs.URL, "http")}
	t.Cleanup(n.stop)
	return n
}

// nodeRelayConfig is the relay config of a test node: no rate limits (the
// tests and the benchmark are not about them).
func nodeRelayConfig(b relay.Broker, name string, cfg Config) relay.Config {
	return relay.Config{
		Broker: b, NodeID: name, MaxBytes: cfg.MaxBytes, MaxLayers: cfg.MaxLayers,
		FrameRate: -1, ByteRate: -1, ChatRate: -1, MaxConnsPerIP: 10000,
	}
}

func (n *node) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
	n.hs.Close()
	_ = n.b.Close()
}

// readyz returns the node's /readyz status code.
func (n *node) readyz(t testing.TB) int {
	t.Helper()
	resp, err := http.Get(n.hs.URL + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// count is the broker's member count of room.
func (n *node) count(room string) int {
	n.b.mu.Lock()
	defer n.b.mu.Unlock()
	return n.b.countLocked(room)
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tmsg is one message a test client read.
type tmsg struct {
	op   gws.Opcode
	data []byte
	typ  string
	ev   map[string]any
}

// tclient is a real gws client that records what it reads.
type tclient struct {
	t        testing.TB
	name     string
	ws       *gws.Conn
	msgs     chan tmsg
	closed   chan struct{} // closed by OnClose
	closeErr error         // why; set before closed is closed
	hello    map[string]any
	frozen   chan struct{} // static; closed once by unfreeze
	thaw     sync.Once
}

type tHandler struct {
	gws.BuiltinEventHandler
	c *tclient
}

func (h tHandler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	if h.c.frozen != nil {
		<-h.c.frozen // a frozen client reads nothing: its socket buffers fill
	}
	msg := tmsg{op: m.Opcode, data: bytes.Clone(m.Bytes())}
	if m.Opcode == gws.OpcodeText {
		_ = json.Unmarshal(msg.data, &msg.ev)
		msg.typ, _ = msg.ev["type"].(string)
	}
	select {
	case h.c.msgs <- msg:
	default:
		h.c.t.Errorf("client %s: buffer full", h.c.name)
	}
}

func (h tHandler) OnPing(socket *gws.Conn, p []byte) { _ = socket.WritePong(p) }
func (h tHandler) OnClose(_ *gws.Conn, err error) {
	h.c.closeErr = err
	close(h.c.closed)
}

// dial connects a client named name to room on n and reads its hello.
func dial(t testing.TB, n *node, room, name string) *tclient {
	t.Helper()
	return dialAs(t, n, room, name, "")
}

// dialAs is dial with the resume that proves the client id name ("":
// none); hello["client"] is the id granted.
func dialAs(t testing.TB, n *node, room, name, resume string) *tclient {
	t.Helper()
	return dialWith(t, n, room, name, dialOpts{resume: resume})
}

// dialOpts are dialWith's options.
type dialOpts struct {
	resume string // proves the client id name
	query  string // more query parameters (patches=1, a rendition)
	frozen bool   // the client reads nothing until unfreeze (it still gets its hello then)
	buffer int    // messages the client holds; default 1024
}

// dialWith connects a client named name to room on n; unless frozen, it
// reads its hello.
func dialWith(t testing.TB, n *node, room, name string, o dialOpts) *tclient {
	t.Helper()
	c := &tclient{t: t, name: name, msgs: make(chan tmsg, cmp.Or(o.buffer, 1024)), closed: make(chan struct{})}
	if o.frozen {
		c.frozen = make(chan struct{})
	}
	addr := n.ws + "/ws/" + room + "?client=" + name + "&name=" + name + "&resume=" + url.QueryEscape(o.resume)
	if o.query != "" {
		addr += "&" + o.query
	}
	ws, _, err := gws.NewClient(tHandler{c: c}, &gws.ClientOption{
		Addr:               addr,
		ReadMaxPayloadSize: 64 << 20,
	})
	if err != nil {
		t.Fatalf("dial %s on %s: %v", name, n.name, err)
	}
	c.ws = ws
	go ws.ReadLoop()
	t.Cleanup(c.close)
	if !o.frozen {
		c.hello = c.expect("hello").ev
	}
	return c
}

func (c *tclient) unfreeze() {
	if c.frozen != nil {
		c.thaw.Do(func() { close(c.frozen) })
	}
}

func (c *tclient) close() {
	c.unfreeze()
	_ = c.ws.WriteClose(1000, nil)
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		_ = c.ws.NetConn().Close()
		<-c.closed
	}
}

func (c *tclient) next(timeout time.Duration) tmsg {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.closed:
		select {
		case m := <-c.msgs: // the read loop queues every message before OnClose
			return m
		default:
		}
		c.t.Fatalf("client %s: the connection closed (%v) while a message was awaited", c.name, c.closeErr)
		return tmsg{}
	case <-time.After(timeout):
		c.t.Fatalf("client %s: no message within %s", c.name, timeout)
		return tmsg{}
	}
}

// expect returns the next message and checks its event type. Unless it
// expects one, it skips presence events.
func (c *tclient) expect(typ string) tmsg {
	c.t.Helper()
	m := c.next(5 * time.Second)
	for m.typ == "presence" && typ != "presence" {
		m = c.next(5 * time.Second)
	}
	if m.op != gws.OpcodeText || m.typ != typ {
		c.t.Fatalf("client %s: got %s, want a %q event", c.name, describe(m), typ)
	}
	return m
}

// expectFrame reads a frame event and its image, and checks the image.
func (c *tclient) expectFrame(from string, want []byte) map[string]any {
	c.t.Helper()
	ev := c.expect("frame").ev
	if got := str(ev, "client"); got != from {
		c.t.Fatalf("client %s: got a frame from %q, want from %q", c.name, got, from)
	}
	img := c.next(5 * time.Second)
	if img.op != gws.OpcodeBinary {
		c.t.Fatalf("client %s: got %s after a frame event, want the image", c.name, describe(img))
	}
	if !bytes.Equal(img.data, want) {
		c.t.Fatalf("client %s: got an image of %d bytes, want the %d bytes sent (byte-exact)", c.name, len(img.data), len(want))
	}
	return ev
}

// expectPresence reads a presence event and checks it.
func (c *tclient) expectPresence(event, client string, count int) {
	c.t.Helper()
	ev := c.expect("presence").ev
	if str(ev, "event") != event || str(ev, "client") != client || num(ev, "count") != count {
		c.t.Fatalf("client %s: got presence %s %s count %d, want %s %s count %d", c.name,
			str(ev, "event"), str(ev, "client"), num(ev, "count"), event, client, count)
	}
}

// expectNothing checks that nothing arrives within d.
func (c *tclient) expectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("client %s: got %s, want nothing", c.name, describe(m))
	case <-time.After(d):
	}
}

// sendFrame sends img and waits for its ack.
func (c *tclient) sendFrame(img []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(gws.OpcodeBinary, img); err != nil {
		c.t.Fatalf("client %s: send: %v", c.name, err)
	}
	ack := c.expect("ack").ev
	if num(ack, "bytes") != len(img) {
		c.t.Fatalf("client %s: got an ack for %d bytes, want %d", c.name, num(ack, "bytes"), len(img))
	}
}

func (c *tclient) sendChat(text string) {
	c.t.Helper()
	if err := c.ws.WriteString(text); err != nil {
		c.t.Fatalf("client %s: send chat: %v", c.name, err)
	}
}

func describe(m tmsg) string {
	if m.op == gws.OpcodeBinary {
		return "a binary frame of " + strconv.Itoa(len(m.data)) + " bytes"
	}
	return "text " + string(m.data)
}

func num(ev map[string]any, k string) int {
	f, _ := ev[k].(float64)
	return int(f)
}

func str(ev map[string]any, k string) string {
	s, _ := ev[k].(string)
	return s
}

// noisePNG is a real PNG of at least size bytes (noise does not compress),
// different for each seed.
func noisePNG(tb testing.TB, size int, seed uint64) []byte {
	tb.Helper()
	side := 16
	for {
		img := image.NewNRGBA(image.Rect(0, 0, side, side))
		r := rand.New(rand.NewPCG(seed, 7))
		for i := range img.Pix {
			img.Pix[i] = uint8(r.Uint32())
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			tb.Fatal(err)
		}
		if buf.Len() >= size {
			return buf.Bytes()
		}
		side += 8 + side/8
	}
}
