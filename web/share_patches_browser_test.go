package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/client"
)

// shareW × shareH is the stand-in screen: 30×17 tiles of 32 pixels.
const (
	shareW = 960
	shareH = 540
)

// frameLog collects what a Go client with patches=1 receives: each frame
// event (a patch's own x, y, width and height) and the last whole picture.
type frameLog struct {
	mu      sync.Mutex // guards the fields below
	patches []client.FrameInfo
	fulls   []client.FrameInfo
	last    []byte // the newest whole picture, PNG
}

func watchFrames(t *testing.T, addr, room string) *frameLog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: "ws://" + addr + "/ws/" + room, Name: "go-watcher", FrameBuffer: 256})
	if err != nil {
		t.Fatalf("dial the relay: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	l := &frameLog{}
	go func() {
		for f := range c.Frames() {
			l.mu.Lock()
			if f.Patch != nil {
				l.patches = append(l.patches, f.Patch.Info)
			} else {
				l.fulls = append(l.fulls, f.Info)
			}
			l.last = f.Data
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *frameLog) counts() (patches, fulls int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.patches), len(l.fulls)
}

// waitCounts waits until the log holds at least patches patches and fulls
// full frames.
func (l *frameLog) waitCounts(t *testing.T, patches, fulls int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, f := l.counts()
		if p >= patches && f >= fulls {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Go client: %d patches and %d full frames, want at least %d and %d", p, f, patches, fulls)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// picture returns the newest whole picture as RGBA bytes once it equals
// want, or after 10 s whatever it is (frames may still be on their way).
func (l *frameLog) picture(t *testing.T, want []byte) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		data := l.last
		l.mu.Unlock()
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Go client: the picture: %v", err)
		}
		b := img.Bounds()
		rgba := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Rect, img, b.Min, draw.Src)
		if bytes.Equal(rgba.Pix, want) || time.Now().After(deadline) {
			return rgba.Pix
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// standInPixels is JS for the stand-in screen's RGBA pixels, base64.
const standInPixels = `(() => {
  const d = window.standIn.ctx.getImageData(0, 0, window.standIn.c.width, window.standIn.c.height).data;
  let s = "";
  for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  return btoa(s);
})()`

func samePixels(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes of pixels, the stand-in screen %d", what, len(got), len(want))
	}
	diff, first := 0, -1
	for i := 0; i < len(got); i += 4 {
		if !bytes.Equal(got[i:i+4], want[i:i+4]) {
			if first < 0 {
				first = i
			}
			diff++
		}
	}
	if diff > 0 {
		px := first / 4
		t.Fatalf("%s differs from the stand-in screen in %d pixels; the first at (%d, %d): %v, want %v", what, diff, px%shareW, px/shareW, got[first:first+4], want[first:first+4])
	}
}

type shareStats struct{ Sent, Skipped, Patches, PatchFrames, Deferred int }

// TestBrowserShareFewPatches: a screen share stand-in (a canvas's
// captureStream) where a cursor blinks top-left while a clock ticks
// bottom-right. The socket worker sends each such frame as two small
// patches, not one box over the whole screen: a Go client with patches=1
// sees their x, y, width and height. A viewer page and the Go client end
// pixel for pixel with the stand-in (PNG here, so nothing is lost on the
// way). Then a change over most of the screen goes as a full frame.
func TestBrowserShareFewPatches(t *testing.T) {
	e := newEnv(t, relay.Config{MaxBytes: maxBytes})
	s := e.open(t, "Sharer", "/r/fewpatches", pageOpts{})
	v := e.open(t, "Viewer", "/v/fewpatches", pageOpts{})
	g := watchFrames(t, e.addr, "fewpatches")
	s.eval(fmt.Sprintf(`(async () => {
  const c = document.createElement("canvas");
  c.width = %d;
  c.height = %d;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#f4f4f0";
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.fillStyle = "#203040";
  ctx.font = "20px sans-serif";
  ctx.fillText("a screen with a cursor and a clock", 200, 250);
  window.standIn = { c, ctx };
  // captureStream() with no rate captures every change; with a rate, a
  // change drawn within a period after the last captured one is lost
  // until the canvas changes again.
  await window.canvasrelay.shareStream(c.captureStream(), 5, { type: "image/png" });
  return true;
})()`, shareW, shareH), nil)
	s.waitTrue("window.canvasrelay.share.sent >= 1", 10*time.Second)
	g.waitCounts(t, 0, 1)

	// Each step blinks the cursor and ticks the clock: one captured frame.
	const steps = 4
	for i := range steps {
		var before shareStats
		s.eval("window.canvasrelay.share", &before)
		s.eval(blinkAndTick(i), nil)
		s.waitTrue(fmt.Sprintf("window.canvasrelay.share.sent > %d", before.Sent), 10*time.Second)
	}
	var st shareStats
	s.eval("window.canvasrelay.share", &st)
	t.Logf("sharer: %+v", st)
	if st.Patches < steps || st.PatchFrames < 2*steps {
		t.Errorf("sharer sent %d frames as %d patches, want each of the %d steps as patches (2 each)", st.Patches, st.PatchFrames, steps)
	}
	g.waitCounts(t, 2*steps, 1)
	g.mu.Lock()
	var nearCursor, nearClock, patchBytes int
	for _, p := range g.patches {
		patchBytes += p.Bytes
		switch {
		case p.Width > 64 || p.Height > 64:
			t.Errorf("a patch of %d×%d at (%d, %d): want only the small changed regions, at most 2×2 tiles", p.Width, p.Height, p.X, p.Y)
		case p.X < 100 && p.Y < 100:
			nearCursor++
		case p.X >= 800 && p.Y >= 480:
			nearClock++
		default:
			t.Errorf("a patch of %d×%d at (%d, %d): nothing changed there", p.Width, p.Height, p.X, p.Y)
		}
	}
	t.Logf("Go client: %d patches (%d at the cursor, %d at the clock) of %d bytes in all; %d full frames, the first of %d bytes", len(g.patches), nearCursor, nearClock, patchBytes, len(g.fulls), g.fulls[0].Bytes)
	g.mu.Unlock()
	if nearCursor < steps || nearClock < steps {
		t.Errorf("%d patches at the cursor and %d at the clock, want %d of each", nearCursor, nearClock, steps)
	}

	var b64 string
	s.eval(standInPixels, &b64)
	want, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	v.waitTrue(fmt.Sprintf("window.canvasrelay.patchesReceived >= %d", 2*steps), 10*time.Second)
	v.waitTrue(fmt.Sprintf(`document.getElementById("destination").width === %d`, shareW), 10*time.Second)
	samePixels(t, "the viewer page", settled(t, v, want), want)
	samePixels(t, "the Go client", g.picture(t, want), want)

	// Most of the screen changes: the patches would cover more than half
	// of it, so the whole frame goes.
	_, fullsBefore := g.counts()
	var before shareStats
	s.eval("window.canvasrelay.share", &before)
	s.eval(`(() => {
  const ctx = window.standIn.ctx;
  ctx.fillStyle = "#2a5d8f";
  ctx.fillRect(0, 0, 700, 450);
  ctx.fillStyle = "#f4f4f0";
  ctx.font = "32px sans-serif";
  ctx.fillText("a new window", 120, 200);
  return true;
})()`, nil)
	s.waitTrue(fmt.Sprintf("window.canvasrelay.share.sent > %d", before.Sent), 10*time.Second)
	s.eval("window.canvasrelay.share", &st)
	if st.Patches != before.Patches {
		t.Errorf("sharer: the change over most of the screen went as patches (%+v, before %+v), want a full frame", st, before)
	}
	g.waitCounts(t, 0, fullsBefore+1)
	g.mu.Lock()
	last := g.fulls[len(g.fulls)-1]
	g.mu.Unlock()
	if last.Width != shareW || last.Height != shareH {
		t.Errorf("the full frame is %d×%d, want %d×%d", last.Width, last.Height, shareW, shareH)
	}
	s.eval(standInPixels, &b64)
	if want, err = base64.StdEncoding.DecodeString(b64); err != nil {
		t.Fatal(err)
	}
	samePixels(t, "the viewer page", settled(t, v, want), want)
	samePixels(t, "the Go client", g.picture(t, want), want)
	v.screenshot(e.shots, "share-few-patches-viewer.png")

	// The relay goes away while the screen changes: the worker looks at no
	// frame meanwhile (deferred) rather than piling patches up for a relay
	// that may not hold what they build on. A new relay on the same address
	// gets a full frame as soon as the socket opens, without a refused
	// patch, and viewers end with the screen as it is.
	var hellos, refused int
	s.eval("window.canvasrelay.hellos", &hellos)
	s.eval("window.canvasrelay.patchesRefused", &refused)
	s.eval("window.canvasrelay.share", &before)
	e.stop()
	s.waitTrue(`window.canvasrelay.info.readyState === "3 CLOSED"`, 10*time.Second)
	for i := steps; ; i++ {
		s.eval(blinkAndTick(i), nil)
		s.eval("window.canvasrelay.share", &st)
		if st.Deferred >= before.Deferred+3 {
			break
		}
		if i > steps+100 {
			t.Fatalf("sharer, relay away: %+v (before: %+v), want frames deferred while patches wait", st, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("sharer, relay away: %+v (before: %+v)", st, before)
	if st.Sent != before.Sent {
		t.Errorf("sharer, relay away: %+v (before: %+v), want no frame sent while no socket is open", st, before)
	}
	e.start(t, e.addr)
	s.waitTrue(fmt.Sprintf("window.canvasrelay.hellos > %d", hellos), 15*time.Second)
	s.waitTrue(fmt.Sprintf("window.canvasrelay.share.sent > %d", st.Sent), 10*time.Second)
	s.eval(standInPixels, &b64)
	if want, err = base64.StdEncoding.DecodeString(b64); err != nil {
		t.Fatal(err)
	}
	g2 := watchFrames(t, e.addr, "fewpatches")
	g2.waitCounts(t, 0, 1)
	samePixels(t, "a Go client after the restart", g2.picture(t, want), want)
	samePixels(t, "the viewer page after the restart", settled(t, v, want), want)
	for _, p := range []*page{s, v} {
		p.expectConsole("net::ERR_CONNECTION_REFUSED") // the reconnect attempts while the relay was away
	}
	var refusedAfter int
	s.eval("window.canvasrelay.patchesRefused", &refusedAfter)
	if refusedAfter != refused {
		t.Errorf("sharer: %d patches refused after the restart, want none (a full frame follows each hello)", refusedAfter-refused)
	}
}

// blinkAndTick is JS that blinks the stand-in's cursor (a bar inside tile
// (1, 1)) and shows the clock at minute i (inside tiles (27..28, 16)), in
// one go: one captured frame.
func blinkAndTick(i int) string {
	cursor := "#f4f4f0"
	if i%2 == 0 {
		cursor = "#101010"
	}
	return fmt.Sprintf(`(() => {
  const ctx = window.standIn.ctx;
  ctx.fillStyle = %q;
  ctx.fillRect(40, 38, 6, 20);
  ctx.fillStyle = "#f4f4f0";
  ctx.fillRect(868, 514, 56, 24);
  ctx.fillStyle = "#203040";
  ctx.font = "18px monospace";
  ctx.fillText("10:%02d", 870, 532);
  return true;
})()`, cursor, i%60)
}

// expectConsole forgets the console errors so far that contain what.
func (p *tab) expectConsole(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.errs[:0]
	for _, e := range p.errs {
		if !strings.Contains(e, what) {
			kept = append(kept, e)
		}
	}
	p.errs = kept
}

// settled returns p's #destination pixels once they equal want, or after
// 10 s whatever they are (frames may still be on their way).
func settled(t *testing.T, p *page, want []byte) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := pixelsOf(t, p)
		if bytes.Equal(got, want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}
