package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/web"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/canvasrelay/canvasrelay/internal/chromium"
	"github.com/lxzan/gws"
)

// chromiumPath finds Debian's chromium (or $CHROMIUM). Browser tests skip
// only when no browser is installed.
func chromiumPath() string { return chromium.Lookup() }

// testLogger sends the relay's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// shareTitle is the title of the tab that getDisplayMedia captures in tests.
// The test sets it on a landing page, so no other tab matches.
const shareTitle = "capture-me-7f3a"

// env is one relay + web server on a fixed 127.0.0.1 address, and one
// headless Chromium.
type env struct {
	t       *testing.T
	cfg     relay.Config
	addr    string
	srv     *relay.Server
	ts      *httptest.Server
	browser context.Context
	shots   string
	closer  *closer
}

// closer stands in for a relay that refuses a connection with a final close
// code: /ws/close-1008 and /ws/close-1009 upgrade, then close at once. It
// counts the attempts so a test can see that the page does not retry.
type closer struct {
	gws.BuiltinEventHandler
	up *gws.Upgrader

	mu    sync.Mutex // guards count
	count map[string]int
}

func newCloser() *closer {
	c := &closer{count: map[string]int{}}
	c.up = gws.NewUpgrader(c, &gws.ServerOption{SubProtocols: []string{"canvasrelay.v1"}})
	return c
}

func (c *closer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	room := strings.TrimPrefix(r.URL.Path, "/ws/")
	c.mu.Lock()
	c.count[room]++
	c.mu.Unlock()
	code, reason := uint16(1008), "origin not allowed"
	if room == "close-1009" {
		code, reason = 1009, "frame over the limit"
	}
	conn, err := c.up.Upgrade(w, r)
	if err != nil {
		return // the upgrader already answered
	}
	_ = conn.WriteClose(code, []byte(reason)) // also closes the socket
}

func (c *closer) dials(room string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count[room]
}

func newEnv(t *testing.T, cfg relay.Config) *env {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("chromium is not installed (apt-get install chromium); browser tests need a real browser")
	}
	e := &env{t: t, cfg: cfg, closer: newCloser()}
	e.start(t, "127.0.0.1:0")
	t.Cleanup(e.stop)

	e.shots = os.Getenv("CANVASRELAY_SCREENSHOTS")
	if e.shots == "" {
		e.shots = t.TempDir()
	} else if err := os.MkdirAll(e.shots, 0o755); err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	t.Logf("screenshots go to %s", e.shots)

	profile := t.TempDir()
	opts := append(chromium.Options(path, profile, 1280, 900),
		// Screen sharing without a picker: capture the tab with this title.
		chromedp.Flag("auto-select-tab-capture-source-by-title", shareTitle))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	e.browser = browser
	return e
}

// start runs a fresh relay and web server on addr.
func (e *env) start(t *testing.T, addr string) {
	t.Helper()
	srv, err := relay.New(e.cfg, testLogger(e.t))
	if err != nil {
		t.Fatalf("relay.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/", srv.Handler())
	mux.Handle("/ws/close-1008", e.closer)
	mux.Handle("/ws/close-1009", e.closer)
	mux.Handle("/healthz", srv.Handler())
	mux.Handle("/", web.Handler())
	var ln net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the old listener's port may linger briefly
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	ts := httptest.NewUnstartedServer(mux)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	e.srv, e.ts, e.addr = srv, ts, ln.Addr().String()
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Logf("relay shutdown: %v", err)
	}
	e.ts.Close()
	e.srv, e.ts = nil, nil
}

// restart stops the server and starts a new one on the same address.
func (e *env) restart(t *testing.T) {
	t.Helper()
	addr := e.addr
	e.stop()
	e.start(t, addr)
}

func (e *env) url(path string) string { return "http://" + e.addr + path }

// page is one browser tab as seen from one (sub)test: use p.in(t) inside
// a subtest so that failures end that subtest.
type page struct {
	t *testing.T
	*tab
}

type tab struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // console reader ended

	mu     sync.Mutex // guards errs and closed
	errs   []string
	closed bool
}

func (p *page) in(t *testing.T) *page { return &page{t: t, tab: p.tab} }

type pageOpts struct {
	width, height int64
	mobile        bool
}

// open opens path in a new tab and waits until the page has its hello.
func (e *env) open(t *testing.T, name, path string, o pageOpts) *page {
	t.Helper()
	p := e.openWith(t, name, path, o)
	p.waitTrue("window.canvasrelay && window.canvasrelay.hellos >= 1", 10*time.Second)
	return p
}

// openNoWait opens path and waits only for the page's script to run.
func (e *env) openNoWait(t *testing.T, name, path string) *page {
	t.Helper()
	return e.openNoWaitFor(t, name, path, "window.canvasrelay")
}

// openNoWaitFor opens path and waits until ready (JS) is true.
func (e *env) openNoWaitFor(t *testing.T, name, path, ready string) *page {
	t.Helper()
	p := e.openWith(t, name, path, pageOpts{})
	p.waitTrue(ready, 10*time.Second)
	return p
}

func (e *env) openWith(t *testing.T, name, path string, o pageOpts) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(e.browser)
	p := &page{t: t, tab: &tab{name: name, ctx: ctx, cancel: cancel, done: make(chan struct{})}}
	if err := chromedp.Do(ctx); err != nil { // make the tab
		t.Fatalf("%s: new tab: %v", name, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		defer close(p.done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			p.record(m)
		}
	}()
	t.Cleanup(p.close)
	if o.width == 0 {
		o.width, o.height = 1280, 860
	}
	var vp []chromedp.EmulateViewportOption
	if o.mobile {
		vp = append(vp, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(o.width, o.height, vp...),
		chromedp.Navigate(e.url(path)),
	); err != nil {
		t.Fatalf("%s: navigate %s: %v", name, path, err)
	}
	return p
}

func (p *tab) record(m chromedp.ConsoleMessage) {
	if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
}

// checkConsole fails the test for any console error or exception so far.
func (p *page) checkConsole() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		p.t.Errorf("%s: console: %s", p.name, e)
	}
	p.errs = nil
}

// close closes the tab after checking its console.
func (p *page) close() {
	p.mu.Lock()
	closed := p.closed
	p.closed = true
	p.mu.Unlock()
	if closed {
		return
	}
	p.checkConsole()
	p.cancel()
	<-p.done
}

func (p *page) eval(js string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: eval %q: %v", p.name, short(js), err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("%s: eval %q: decode %s: %v", p.name, short(js), raw, err)
		}
	}
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// waitTrue polls a JS expression until it is true.
func (p *page) waitTrue(js string, timeout time.Duration) {
	p.t.Helper()
	if err := p.poll(js, timeout); err != nil {
		p.t.Fatalf("%s: waiting for %s: %v", p.name, short(js), err)
	}
}

func (p *page) poll(js string, timeout time.Duration) error {
	return chromium.WaitTrue(p.ctx, js, timeout, 5*time.Second)
}

func (p *page) text(id string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf("document.getElementById(%q).textContent", id), &s)
	return s
}

// waitText waits until element id's text contains want.
func (p *page) waitText(id, want string, timeout time.Duration) {
	p.t.Helper()
	js := fmt.Sprintf("document.getElementById(%q).textContent.includes(%q)", id, want)
	if err := p.poll(js, timeout); err != nil {
		p.t.Fatalf("%s: #%s: got %q, want it to contain %q", p.name, id, p.text(id), want)
	}
}

func (p *page) screenshot(dir, file string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	p.t.Logf("%s: screenshot %s", p.name, path)
}

type rect struct{ X, Y, W, H float64 }

func (p *page) rectOf(id string) rect {
	p.t.Helper()
	var r rect
	p.eval(fmt.Sprintf(`(() => { const r = document.getElementById(%q).getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })()`, id), &r)
	if r.W == 0 || r.H == 0 {
		p.t.Fatalf("%s: #%s has no size: %+v", p.name, id, r)
	}
	return r
}

// strokeMouse draws a line with real mouse input from (fx0, fy0) to (fx1,
// fy1), given as fractions of #source.
func (p *page) strokeMouse(fx0, fy0, fx1, fy1 float64) {
	p.t.Helper()
	r := p.rectOf("source")
	at := func(f float64) (float64, float64) {
		return r.X + (fx0+(fx1-fx0)*f)*r.W, r.Y + (fy0+(fy1-fy0)*f)*r.H
	}
	x, y := at(0)
	steps := []input.DispatchMouseEventParams{
		{Type: chromedp.MouseMoved, X: x, Y: y},
		{Type: chromedp.MousePressed, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: 1, ClickCount: 1},
	}
	for i := 1; i <= 12; i++ {
		x, y := at(float64(i) / 12)
		steps = append(steps, input.DispatchMouseEventParams{Type: chromedp.MouseMoved, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: 1})
	}
	x, y = at(1)
	steps = append(steps, input.DispatchMouseEventParams{Type: chromedp.MouseReleased, X: x, Y: y, Button: input.MouseButtonLeft, ClickCount: 1})
	p.dispatch(steps)
}

func (p *page) dispatch(steps []input.DispatchMouseEventParams) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, s := range steps {
			if _, err := cdp.Call(ctx, t, input.DispatchMouseEvent, s); err != nil {
				return fmt.Errorf("mouse %s: %w", s.Type, err)
			}
		}
		return nil
	}))
}

// strokeTouch draws a line with real touch input (a finger), as on a phone.
func (p *page) strokeTouch(fx0, fy0, fx1, fy1 float64) {
	p.t.Helper()
	r := p.rectOf("source")
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for i := 0; i <= 12; i++ {
			f := float64(i) / 12
			pt := &input.TouchPoint{X: r.X + (fx0+(fx1-fx0)*f)*r.W, Y: r.Y + (fy0+(fy1-fy0)*f)*r.H}
			typ := input.DispatchTouchEventTypeTouchMove
			if i == 0 {
				typ = input.DispatchTouchEventTypeTouchStart
			}
			if _, err := cdp.Call(ctx, t, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: []*input.TouchPoint{pt}}); err != nil {
				return fmt.Errorf("touch %s: %w", typ, err)
			}
		}
		_, err := cdp.Call(ctx, t, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}})
		return err
	}))
}

// colorCount is JS that counts the pixels of canvas id close to rgb inside
// the box (fractions of the canvas).
func colorCount(id string, rgb [3]int, x0, y0, x1, y1 float64) string {
	return fmt.Sprintf(`(() => {
  const c = document.getElementById(%q);
  const x = Math.floor(c.width * %g), y = Math.floor(c.height * %g);
  const w = Math.max(1, Math.floor(c.width * %g) - x), h = Math.max(1, Math.floor(c.height * %g) - y);
  const d = c.getContext("2d").getImageData(x, y, w, h).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 200 && Math.abs(d[i] - %d) < 40 && Math.abs(d[i + 1] - %d) < 40 && Math.abs(d[i + 2] - %d) < 40) n++;
  }
  return n;
})()`, id, x0, y0, x1, y1, rgb[0], rgb[1], rgb[2])
}

var spaces = regexp.MustCompile(`\s+`)

func short(js string) string {
	s := spaces.ReplaceAllString(js, " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
