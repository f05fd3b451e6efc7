package cli

// Test harness for the client commands: a real relay on 127.0.0.1 that can be
// killed (every socket cut, no close frame) and started again on the same
// address, and a way to call run with captured output.

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/client"
)

// testRelay is a real relay server behind a listener whose connections the
// test can cut at once.
type testRelay struct {
	t    *testing.T
	addr string

	mu    sync.Mutex
	srv   *relay.Server
	hs    *http.Server
	ln    net.Listener
	conns map[net.Conn]struct{}
	cfg   relay.Config
}

func startRelay(t *testing.T, cfg relay.Config) *testRelay {
	t.Helper()
	r := &testRelay{t: t, addr: "127.0.0.1:0", cfg: cfg}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *testRelay) start() {
	r.t.Helper()
	srv, err := relay.New(r.cfg, slog.New(slog.NewTextHandler(tlog{r.t, "relay"}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		r.t.Fatalf("relay.New: %v", err)
	}
	var ln net.Listener
	for i := 0; i < 50; i++ { // the old socket may linger for a moment after a kill
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("listen %s: %v", r.addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/", srv.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if st == http.StateNew {
			r.conns[c] = struct{}{}
		}
	}
	r.mu.Lock()
	r.srv, r.hs, r.ln, r.addr = srv, hs, ln, ln.Addr().String()
	r.conns = map[net.Conn]struct{}{}
	r.mu.Unlock()
	go func() { _ = hs.Serve(ln) }()
}

// url is the page URL of room (http://127.0.0.1:port/r/room).
func (r *testRelay) url(room string) string { return "http://" + r.addr + "/r/" + room }

// kill cuts every socket without a close frame, as a crash would.
func (r *testRelay) kill() {
	r.mu.Lock()
	srv, hs, ln, conns := r.srv, r.hs, r.ln, r.conns
	r.srv, r.conns = nil, nil
	r.mu.Unlock()
	if srv == nil {
		return
	}
	_ = ln.Close()
	for c := range conns {
		_ = c.Close()
	}
	_ = hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx) // frees its goroutines; its sockets are gone already
}

// stop shuts the relay down properly.
func (r *testRelay) stop() {
	r.mu.Lock()
	srv, hs := r.srv, r.hs
	r.srv = nil
	r.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = hs.Shutdown(ctx)
	_ = hs.Close()
}

// tlog sends log lines to t.Log.
type tlog struct {
	t      *testing.T
	prefix string
}

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(w.prefix + ": " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cmdRun is one call of run in the background.
type cmdRun struct {
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error
	cancel         context.CancelFunc
}

// startCmd calls Run(ctx, args, …) in a goroutine, bounded by limit.
func startCmd(t *testing.T, limit time.Duration, args ...string) *cmdRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	c := &cmdRun{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(c.done)
		c.err = Run(ctx, args, &c.stdout, &c.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
	})
	return c
}

// wait waits for the command and returns its exit code.
func (c *cmdRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		t.Fatal("command did not end")
	}
	t.Logf("exit %d (err %v)\nstdout:\n%s\nstderr:\n%s", ExitCode(c.err), c.err, c.stdout.String(), c.stderr.String())
	return ExitCode(c.err)
}

// interrupt cancels the command's context (Ctrl-C) and waits for it.
func (c *cmdRun) interrupt(t *testing.T) int {
	t.Helper()
	c.cancel()
	return c.wait(t)
}

// runCmd runs a command to its end.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	c := startCmd(t, 60*time.Second, args...)
	code = c.wait(t)
	stderr = c.stderr.String()
	if c.err != nil {
		stderr += "canvasrelay: " + c.err.Error() + "\n" // as main prints it
	}
	return c.stdout.String(), stderr, code
}

// waitUntil polls cond every 10ms for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// makePNG encodes a w×h PNG whose pixels depend on seed, so that every seed
// gives different bytes.
func makePNG(t *testing.T, w, h, seed int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x*7 + seed), uint8(y*13 + seed*3), uint8(seed * 31), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// makeNoisePNG encodes a w×h PNG of random pixels (it does not compress).
func makeNoisePNG(t *testing.T, w, h int, seed uint64) []byte {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, seed))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(rnd.Uint32())
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// subscriber connects a plain client to a room and collects its frames.
type subscriber struct {
	c      *client.Client
	mu     sync.Mutex
	frames []client.Frame
	done   chan struct{}
}

func subscribe(t *testing.T, url string) *subscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: url, ClientID: "test-sub", FrameBuffer: 1024, FrameBufferBytes: 1 << 30})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	s := &subscriber{c: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for f := range c.Frames() {
			s.mu.Lock()
			s.frames = append(s.frames, f)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-s.done
	})
	return s
}

func (s *subscriber) got() []client.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]client.Frame(nil), s.frames...)
}

// disconnects returns how many connections the relay saw close with this
// close code, from its Prometheus registry.
func (r *testRelay) disconnects(t *testing.T, code string) float64 {
	t.Helper()
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	mfs, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "canvasrelay_disconnects_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == code {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
