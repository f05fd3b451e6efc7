package web_test

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/chromedp/chromedp"
)

// TestBrowserPatches: two whiteboards draw, and erase, in real Chromium;
// after the first full frame each stroke goes out as a patch (only the
// rectangle it touched). A page and a viewer that join late get each
// layer's log (its full frame, then every patch) and must show the very
// picture the drawers show, pixel for pixel.
func TestBrowserPatches(t *testing.T) {
	e := newEnv(t, relay.Config{MaxBytes: maxBytes})
	a := e.open(t, "A", "/r/patches", pageOpts{})
	b := e.open(t, "B", "/r/patches", pageOpts{})
	setColor(a, "#e61414")
	setColor(b, "#14aa3c")

	// A draws in the top half and B in the bottom half: the layers never
	// overlap, so every page composes the same picture whatever the order
	// of its layers.
	for i := range 4 {
		y := 0.08 + 0.09*float64(i)
		a.strokeMouse(0.1, y, 0.55, y+0.04)
		a.waitTrue(fmt.Sprintf("window.canvasrelay.patchesSent + window.canvasrelay.fullSent >= %d", i+1), 10*time.Second)
		y = 0.58 + 0.09*float64(i)
		b.strokeMouse(0.4, y, 0.9, y-0.03)
		b.waitTrue(fmt.Sprintf("window.canvasrelay.patchesSent + window.canvasrelay.fullSent >= %d", i+1), 10*time.Second)
	}
	// A rubs out across its strokes: patches with transparent pixels,
	// which must clear what they cover on the other pages.
	a.do(chromedp.Click(chromedp.ID("eraser")))
	a.strokeMouse(0.31, 0.05, 0.31, 0.45)
	a.do(chromedp.Click(chromedp.ID("eraser")))
	a.waitTrue("window.canvasrelay.patchesSent >= 4", 10*time.Second)
	b.waitTrue("window.canvasrelay.patchesSent >= 3", 10*time.Second)

	for _, p := range []*page{a, b} {
		var st struct {
			PatchesSent, FullSent int
			InWorker              bool
		}
		p.eval("({PatchesSent: window.canvasrelay.patchesSent, FullSent: window.canvasrelay.fullSent, InWorker: window.canvasrelay.encodesInWorker})", &st)
		if !st.InWorker {
			t.Errorf("%s: snapshots are not encoded in the socket worker (OffscreenCanvas)", p.name)
		}
		// The first snapshot after connecting is a full frame; strokes far
		// under half the board go as patches.
		if st.FullSent < 1 || st.FullSent > 2 {
			t.Errorf("%s: %d full frames sent, want 1 (or 2 on a loaded machine's reconnect)", p.name, st.FullSent)
		}
	}
	// Both drawers got the other's patches live.
	a.waitTrue("window.canvasrelay.patchesReceived >= 1", 10*time.Second)
	b.waitTrue("window.canvasrelay.patchesReceived >= 1", 10*time.Second)

	// The drawers agree with each other (each shows both layers).
	want := samePicture(t, a, b)
	if n := opaqueCount(want); n < 2000 {
		t.Fatalf("the drawers' picture has %d opaque pixels, want the strokes (> 2000)", n)
	}
	// A's eraser stroke went through: a column of A's top half is clear.
	var erased int
	a.eval(colorCount("destination", red, 0.308, 0.1, 0.312, 0.4), &erased)
	if erased != 0 {
		t.Errorf("A: %d red pixels left under the eraser stroke, want 0", erased)
	}

	c := e.open(t, "C-late", "/r/patches", pageOpts{})
	v := e.open(t, "Viewer-late", "/v/patches", pageOpts{})
	c.waitTrue("window.canvasrelay.patchesReceived >= 4", 10*time.Second)
	v.waitTrue("window.canvasrelay.patchesReceived >= 4", 10*time.Second)
	samePicture(t, a, c)
	samePicture(t, a, v)
	c.screenshot(e.shots, "patches-C-late-joiner.png")

	// Many strokes: the patches since A's full frame reach its size, the
	// relay asks for a keyframe, and A sends its layer whole, before the
	// relay would refuse a patch.
	var fullBefore int
	a.eval("window.canvasrelay.fullSent", &fullBefore)
	strokes := 0
	for ; strokes < 200; strokes++ {
		var kf int
		a.eval("window.canvasrelay.keyframes", &kf)
		if kf > 0 {
			break
		}
		setColor(a, fmt.Sprintf("#%02x1414", 120+strokes%120))
		y := 0.05 + 0.01*float64(strokes%35)
		a.strokeMouse(0.05+0.002*float64(strokes%50), y, 0.6, 0.45-y/2)
		a.waitTrue("!window.canvasrelay.info.unacked", 10*time.Second)
	}
	a.waitTrue(fmt.Sprintf("window.canvasrelay.keyframes >= 1 && window.canvasrelay.fullSent > %d", fullBefore), 10*time.Second)
	var sent struct{ PatchesSent, PatchBytes, FullSent int }
	a.eval("({PatchesSent: window.canvasrelay.patchesSent, PatchBytes: window.canvasrelay.patchBytes, FullSent: window.canvasrelay.fullSent})", &sent)
	t.Logf("keyframe request after %d more strokes; A sent %+v", strokes, sent)
	var refused int
	a.eval("window.canvasrelay.patchesRefused", &refused)
	if refused != 0 {
		t.Errorf("A: %d patches refused, want 0 (the page answers keyframe before keyframe_needed)", refused)
	}
	samePicture(t, a, c)
	samePicture(t, a, v)
	d := e.open(t, "D-late", "/r/patches", pageOpts{})
	samePicture(t, a, d)

	// Clearing the layer sends it whole (the change covers the board).
	a.eval("window.canvasrelay.fullSent", &fullBefore)
	a.do(chromedp.Click(chromedp.ID("clear")))
	a.waitTrue(fmt.Sprintf("window.canvasrelay.fullSent > %d", fullBefore), 10*time.Second)
	c.waitTrue(colorCount("destination", red, 0, 0, 1, 1)+" == 0", 10*time.Second)
	samePicture(t, a, c)
}

// pictureHash is JS for the size and an FNV-1a hash of #destination's
// pixels.
const pictureHash = `(() => {
  const c = document.getElementById("destination");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let h = 0x811c9dc5;
  for (let i = 0; i < d.length; i++) {
    h ^= d[i];
    h = Math.imul(h, 0x01000193);
  }
  return c.width + "x" + c.height + ":" + (h >>> 0);
})()`

// picturePixels is JS for #destination's RGBA pixels, base64.
const picturePixels = `(() => {
  const c = document.getElementById("destination");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let s = "";
  for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  return btoa(s);
})()`

func pixelsOf(t *testing.T, p *page) []byte {
	t.Helper()
	var b64 string
	p.in(t).eval(picturePixels, &b64)
	px, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("%s: pixels: %v", p.name, err)
	}
	return px
}

// samePicture waits until p and q show the same #destination (the pages
// settle after their last frames), then compares every pixel and returns
// them.
func samePicture(t *testing.T, p, q *page) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var hp, hq string
	for {
		p.in(t).eval(pictureHash, &hp)
		q.in(t).eval(pictureHash, &hq)
		if hp == hq || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	pp, pq := pixelsOf(t, p), pixelsOf(t, q)
	if len(pp) != len(pq) {
		t.Fatalf("%s shows %s, %s shows %s: sizes differ", p.name, hp, q.name, hq)
	}
	diff, first := 0, -1
	for i := 0; i < len(pp); i += 4 {
		if pp[i] != pq[i] || pp[i+1] != pq[i+1] || pp[i+2] != pq[i+2] || pp[i+3] != pq[i+3] {
			if first < 0 {
				first = i
			}
			diff++
		}
	}
	if diff > 0 {
		var w int
		p.in(t).eval(`document.getElementById("destination").width`, &w)
		px := first / 4
		t.Fatalf("%s and %s differ in %d pixels; the first at (%d, %d): %v vs %v", p.name, q.name, diff, px%w, px/w, pp[first:first+4], pq[first:first+4])
	}
	return pp
}

func opaqueCount(px []byte) int {
	n := 0
	for i := 3; i < len(px); i += 4 {
		if px[i] > 0 {
			n++
		}
	}
	return n
}
