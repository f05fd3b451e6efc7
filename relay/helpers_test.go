package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/lxzan/gws"
)

// testLogger sends the server's logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// startServer runs a relay on 127.0.0.1:0 and stops it when the test ends.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	var logger *slog.Logger
	if _, ok := t.(*testing.B); !ok {
		logger = testLogger(t)
	}
	if cfg.ImageTimeout == 0 {
		// The race detector multiplies the CPU time of image work; tests
		// that exercise the budget set their own.
		cfg.ImageTimeout = 2 * time.Minute
	}
	srv, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Config.ErrorLog = nil
	hs.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	})
	return srv, "ws" + strings.TrimPrefix(hs.URL, "http")
}

// tmsg is one message a test client read.
type tmsg struct {
	op   gws.Opcode
	data []byte
	typ  string // "type" of a text event
	ev   map[string]any
}

// tclient is a real gws client that records what it reads.
type tclient struct {
	t      testing.TB
	ws     *gws.Conn
	msgs   chan tmsg
	mu     sync.Mutex
	closed chan struct{}
	err    error         // why it closed
	frozen chan struct{} // static; closed once by unfreeze
	thaw   sync.Once
}

type tHandler struct {
	gws.BuiltinEventHandler
	c *tclient
}

func (h tHandler) OnMessage(socket *gws.Conn, m *gws.Message) {
	defer m.Close()
	if h.c.frozen != nil {
		<-h.c.frozen
	}
	msg := tmsg{op: m.Opcode, data: append([]byte(nil), m.Bytes()...)}
	if m.Opcode == gws.OpcodeText {
		_ = json.Unmarshal(msg.data, &msg.ev)
		msg.typ, _ = msg.ev["type"].(string)
	}
	select {
	case h.c.msgs <- msg:
	default:
		h.c.t.Errorf("test client buffer full")
	}
}

func (h tHandler) OnPing(socket *gws.Conn, p []byte) { _ = socket.WritePong(p) }

func (h tHandler) OnClose(socket *gws.Conn, err error) {
	h.c.mu.Lock()
	h.c.err = err
	h.c.mu.Unlock()
	close(h.c.closed)
}

type dialOpt struct {
	query  string
	header http.Header
	frozen bool // the client stops reading until unfreeze
	buffer int
}

func dial(t testing.TB, base, room string, o dialOpt) *tclient {
	t.Helper()
	c, resp, err := tryDial(t, base, room, o)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", room, err, status)
	}
	t.Cleanup(func() { c.close() })
	return c
}

func tryDial(t testing.TB, base, room string, o dialOpt) (*tclient, *http.Response, error) {
	if o.buffer == 0 {
		o.buffer = 4096
	}
	c := &tclient{t: t, msgs: make(chan tmsg, o.buffer), closed: make(chan struct{})}
	if o.frozen {
		c.frozen = make(chan struct{})
	}
	u := base + "/ws/" + room
	if o.query != "" {
		u += "?" + o.query
	}
	ws, resp, err := gws.NewClient(tHandler{c: c}, &gws.ClientOption{
		Addr:               u,
		RequestHeader:      o.header,
		ReadMaxPayloadSize: 64 << 20,
		HandshakeTimeout:   30 * time.Second, // a loaded CI machine can be slow
		NewDialer: func() (gws.Dialer, error) {
			return &net.Dialer{Timeout: 30 * time.Second}, nil
		},
	})
	if err != nil {
		return nil, resp, err
	}
	c.ws = ws
	go ws.ReadLoop()
	return c, resp, nil
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
	}
}

// next returns the next message, failing the test after timeout.
func (c *tclient) next(timeout time.Duration) tmsg {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(timeout):
		c.t.Fatalf("no message within %s", timeout)
		return tmsg{}
	}
}

// expect returns the next message and checks its event type.
func (c *tclient) expect(typ string) tmsg {
	c.t.Helper()
	m := c.next(20 * time.Second) // generous: image work under -race on a shared machine
	if m.op != gws.OpcodeText || m.typ != typ {
		c.t.Fatalf("got %s, want a %q event", describe(m), typ)
	}
	return m
}

// expectSkippingFrames is expect, but skips frame events with their images,
// and presence events.
func (c *tclient) expectSkippingFrames(typ string) tmsg {
	c.t.Helper()
	for {
		m := c.next(5 * time.Second)
		if m.op == gws.OpcodeText && m.typ == TypeFrame {
			c.next(5 * time.Second)
			continue
		}
		if m.op == gws.OpcodeText && m.typ == TypePresence && typ != TypePresence {
			continue
		}
		if m.op != gws.OpcodeText || m.typ != typ {
			c.t.Fatalf("got %s, want a %q event", describe(m), typ)
		}
		return m
	}
}

// expectNothing checks that nothing arrives within d.
func (c *tclient) expectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("got %s, want nothing", describe(m))
	case <-time.After(d):
	}
}

// closeCode waits for the connection to end and returns the close code the
// server sent (0 when none arrived).
func (c *tclient) closeCode(timeout time.Duration) int {
	c.t.Helper()
	select {
	case <-c.closed:
	case <-time.After(timeout):
		c.t.Fatalf("connection still open after %s", timeout)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *gws.CloseError
	if errors.As(c.err, &ce) {
		return int(ce.Code)
	}
	return 0
}

func (c *tclient) sendBinary(b []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(gws.OpcodeBinary, b); err != nil {
		c.t.Fatalf("send binary: %v", err)
	}
}

func (c *tclient) sendText(s string) {
	c.t.Helper()
	if err := c.ws.WriteString(s); err != nil {
		c.t.Fatalf("send text: %v", err)
	}
}

func describe(m tmsg) string {
	if m.op == gws.OpcodeBinary {
		return "a binary frame of " + itoa(len(m.data)) + " bytes"
	}
	return "text " + string(m.data)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func num(ev map[string]any, k string) int {
	f, _ := ev[k].(float64)
	return int(f)
}

func str(ev map[string]any, k string) string {
	s, _ := ev[k].(string)
	return s
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	return b
}

var _ = io.Discard

// scrape returns the server's /metrics text.
func scrape(t testing.TB, srv *Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func imageprocOptions(maxW int, format string) imageproc.Options {
	return imageproc.Options{MaxWidth: maxW, Format: imageproc.OutputFormat(format)}
}
