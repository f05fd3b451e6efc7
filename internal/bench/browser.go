package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/canvasrelay/canvasrelay/internal/chromium"
)

// ChromiumEnv names the environment variable that points at a Chromium
// binary when --chromium is not given.
const ChromiumEnv = chromium.Env

// FindChromium returns the browser to drive: path when given (a name on
// PATH or a file), else $CHROMIUM, else chromium, chromium-browser or
// google-chrome on PATH. It wraps ErrNoChromium when there is none.
func FindChromium(path string) (string, error) {
	if path != "" {
		full, err := exec.LookPath(path)
		if err != nil {
			return "", fmt.Errorf("%w: --chromium %q: %w; point --chromium (or $%s) at a Chromium or Chrome binary", ErrNoChromium, path, err, ChromiumEnv)
		}
		return full, nil
	}
	if full := chromium.Lookup(); full != "" {
		return full, nil
	}
	return "", fmt.Errorf("%w: none of $%s, chromium, chromium-browser, google-chrome found on PATH; install one (apt-get install chromium) or point --chromium (or $%s) at the binary",
		ErrNoChromium, ChromiumEnv, ChromiumEnv)
}

// browser is one headless Chromium with its own temporary profile.
type browser struct {
	ctx     context.Context
	cancel  func()
	profile string
}

func startBrowser(path string) (*browser, error) {
	profile, err := os.MkdirTemp("", "canvasrelay-bench-chromium-")
	if err != nil {
		return nil, err
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromium.Options(path, profile, 1400, 900)...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	b := &browser{ctx: ctx, profile: profile, cancel: func() {
		cancelBrowser()
		cancelAlloc()
		_ = os.RemoveAll(profile)
	}}
	// The first action starts the browser for ctx's whole life, so it
	// runs on ctx itself; the timer bounds it by cancelling ctx.
	if err := doBounded(ctx, 30*time.Second, b.cancel); err != nil {
		return nil, fmt.Errorf("start chromium %s: %w", path, err)
	}
	return b, nil
}

// doBounded runs chromedp's first action on ctx (which creates the browser
// or the tab for ctx's life), calling cancel if it takes over timeout.
func doBounded(ctx context.Context, timeout time.Duration, cancel func()) error {
	stop := time.AfterFunc(timeout, cancel)
	err := chromedp.Do(ctx)
	if !stop.Stop() && err == nil {
		err = fmt.Errorf("timed out after %s", timeout)
	}
	if err != nil {
		cancel()
	}
	return err
}

func (b *browser) close() { b.cancel() }

// tab is one page in the browser.
type tab struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// open opens url in a new tab of w×h CSS pixels and waits until ready
// (JS) is true.
func (b *browser) open(name, url string, w, h int64, ready string) (*tab, error) {
	ctx, cancel := chromedp.NewContext(b.ctx)
	t := &tab{name: name, ctx: ctx, cancel: cancel}
	if err := doBounded(ctx, 30*time.Second, cancel); err != nil {
		return nil, fmt.Errorf("%s: new tab: %w", name, err)
	}
	nctx, ncancel := context.WithTimeout(ctx, 30*time.Second)
	defer ncancel()
	if err := chromedp.Do(nctx, chromedp.EmulateViewport(w, h), chromedp.Navigate(url)); err != nil {
		cancel()
		return nil, fmt.Errorf("%s: open %s: %w", name, url, err)
	}
	if err := t.waitTrue(ready, 20*time.Second); err != nil {
		cancel()
		return nil, err
	}
	return t, nil
}

func (t *tab) close() { t.cancel() }

// eval runs js (awaiting a promise) and decodes its value into out (nil:
// ignored).
func (t *tab) eval(js string, out any) error {
	ctx, cancel := context.WithTimeout(t.ctx, 20*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](js, chromedp.EvalAwaitPromise))
	if err != nil {
		return fmt.Errorf("%s: eval %.60q: %w", t.name, js, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s: eval %.60q: decode: %w", t.name, js, err)
		}
	}
	return nil
}

// waitTrue polls js until it is true, at most timeout.
func (t *tab) waitTrue(js string, timeout time.Duration) error {
	if err := chromium.WaitTrue(t.ctx, js, timeout, 10*time.Second); err != nil {
		return fmt.Errorf("%s: waiting %s for %.80q: %w", t.name, timeout, js, err)
	}
	return nil
}

// mouse dispatches real mouse events through CDP.
func (t *tab) mouse(steps []input.DispatchMouseEventParams, pause time.Duration) error {
	ctx, cancel := context.WithTimeout(t.ctx, 60*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for i, s := range steps {
			if i > 0 && pause > 0 && s.Type == chromedp.MouseMoved {
				time.Sleep(pause)
			}
			if _, err := cdp.Call(ctx, tg, input.DispatchMouseEvent, s); err != nil {
				return fmt.Errorf("mouse %s: %w", s.Type, err)
			}
		}
		return nil
	}))
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	return nil
}

// canvasJS is JS for the RGBA pixels of the canvas that expr evaluates
// to, gzipped (CompressionStream) and base64: {w, h, gz}. A 1080p screen
// is 8 MB raw and a few hundred KB this way.
func canvasJS(expr string) string {
	return `(async () => {
  const c = ` + expr + `;
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  const gz = new Uint8Array(await new Response(new Blob([d]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
  let s = "";
  for (let i = 0; i < gz.length; i += 0x8000) s += String.fromCharCode.apply(null, gz.subarray(i, i + 0x8000));
  return {w: c.width, h: c.height, gz: btoa(s)};
})()`
}

// rgba is a canvas read back from a page.
type rgba struct {
	W, H int
	Px   []byte
}

func (t *tab) pixels(canvasExpr string) (*rgba, error) {
	var v struct {
		W, H int
		Gz   string
	}
	if err := t.eval(canvasJS(canvasExpr), &v); err != nil {
		return nil, err
	}
	gz, err := base64.StdEncoding.DecodeString(v.Gz)
	if err != nil {
		return nil, fmt.Errorf("%s: pixels: %w", t.name, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("%s: pixels: %w", t.name, err)
	}
	// At most the canvas's size (and one byte more, to see a longer one).
	px, err := io.ReadAll(io.LimitReader(zr, int64(4*v.W*v.H)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: pixels: %w", t.name, err)
	}
	if len(px) != 4*v.W*v.H {
		return nil, fmt.Errorf("%s: pixels: %d bytes for %dx%d", t.name, len(px), v.W, v.H)
	}
	return &rgba{W: v.W, H: v.H, Px: px}, nil
}

// PixelDiff compares two pictures exactly.
type PixelDiff struct {
	Width     int  `json:"width"`
	Height    int  `json:"height"`
	Mismatch  int  `json:"mismatched_pixels"` // pixels whose RGBA differ at all (all of them when the sizes differ)
	MaxDelta  int  `json:"max_channel_delta"` // the largest difference of one channel
	SizeDiffs bool `json:"size_differs,omitempty"`
}

// Identical reports whether the pictures are the same, pixel for pixel.
func (d *PixelDiff) Identical() bool { return d != nil && !d.SizeDiffs && d.Mismatch == 0 }

func comparePixels(a, b *rgba) PixelDiff {
	d := PixelDiff{Width: a.W, Height: a.H}
	if a.W != b.W || a.H != b.H {
		d.SizeDiffs = true
		d.Mismatch = max(a.W*a.H, b.W*b.H)
		return d
	}
	for i := 0; i+3 < len(a.Px); i += 4 {
		diff := false
		for c := range 4 {
			x, y := int(a.Px[i+c]), int(b.Px[i+c])
			if x != y {
				diff = true
				d.MaxDelta = max(d.MaxDelta, abs(x-y))
			}
		}
		if diff {
			d.Mismatch++
		}
	}
	return d
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// writePNG saves a read-back picture.
func writePNG(path string, p *rgba) error {
	img := &image.NRGBA{Pix: p.Px, Stride: 4 * p.W, Rect: image.Rect(0, 0, p.W, p.H)}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
