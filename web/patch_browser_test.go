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
	var sent struct{ PatchesSent, PatchBytes, FullSent, FullBytes int }
	a.eval("({PatchesSent: window.canvasrelay.patchesSent, PatchBytes: window.canvasrelay.patchBytes, FullSent: window.canvasrelay.fullSent, FullBytes: window.canvasrelay.fullBytes})", &sent)
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

// TestBrowserSharePatches: a screen share stand-in (a canvas's
// captureStream, where text is typed a character at a time) is shared
// from the whiteboard; after the first frame, the socket worker sends only
// the changed tiles as patches. A viewer gets them live, and a viewer that
// joins late shows the same picture, pixel for pixel.
func TestBrowserSharePatches(t *testing.T) {
	e := newEnv(t, relay.Config{MaxBytes: maxBytes})
	s := e.open(t, "Sharer", "/r/sharepatch", pageOpts{})
	v1 := e.open(t, "Viewer1", "/v/sharepatch", pageOpts{})
	s.eval(`(async () => {
  const c = document.createElement("canvas");
  c.width = 640;
  c.height = 360;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, 640, 360);
  ctx.fillStyle = "#102030";
  ctx.font = "28px sans-serif";
  ctx.fillText("typing:", 20, 60);
  window.standIn = { c, ctx };
  // captureStream() with no rate captures every change; with a rate, a
  // change drawn within a period after the last captured one is lost
  // until the canvas changes again.
  await window.canvasrelay.shareStream(c.captureStream(), 5);
  return true;
})()`, nil)
	s.waitTrue("window.canvasrelay.share.active && window.canvasrelay.share.sent >= 1", 10*time.Second)
	v1.waitTrue("window.canvasrelay.frames >= 1", 10*time.Second)
	for i, ch := range "patches!" {
		var sent int
		s.eval("window.canvasrelay.share.sent", &sent)
		s.eval(fmt.Sprintf(`(() => { window.standIn.ctx.fillText(%q, %d, 60); return true; })()`, string(ch), 130+i*18), nil)
		t0 := time.Now()
		s.waitTrue(fmt.Sprintf("window.canvasrelay.share.sent > %d", sent), 15*time.Second)
		t.Logf("char %d sent after %s", i, time.Since(t0))
	}
	var st struct{ Sent, Skipped, Patches int }
	s.eval("window.canvasrelay.share", &st)
	t.Logf("sharer: %+v", st)
	if st.Patches < 4 {
		t.Errorf("sharer sent %d patches of %d frames, want most of the typed characters as patches (>= 4)", st.Patches, st.Sent)
	}
	v1.waitTrue("window.canvasrelay.patchesReceived >= 4", 10*time.Second)
	var w, h, dark int
	v1.eval(`document.getElementById("destination").width`, &w)
	v1.eval(`document.getElementById("destination").height`, &h)
	if w != 640 || h != 360 {
		t.Errorf("viewer canvas %dx%d, want the shared 640x360", w, h)
	}
	// The typed text is there (lossy, so not compared with the source).
	v1.eval(colorCount("destination", [3]int{16, 32, 48}, 0.19, 0.08, 0.45, 0.2), &dark)
	if dark < 50 {
		t.Errorf("viewer: %d dark pixels where the characters were typed, want the text (> 50)", dark)
	}
	// The late viewer gets the sharer's log: its full frame and the patches
	// since (none when the share's 30 s keyframe came in between).
	v2 := e.open(t, "Viewer2-late", "/v/sharepatch", pageOpts{})
	v2.waitTrue("window.canvasrelay.frames >= 1", 10*time.Second)
	samePicture(t, v1, v2)
	var late int
	v2.eval("window.canvasrelay.patchesReceived", &late)
	t.Logf("the late viewer applied %d patches", late)
	v2.screenshot(e.shots, "share-patches-late-viewer.png")
	s.do(chromedp.Click(chromedp.ID("share")))
	s.waitTrue("!window.canvasrelay.share.active", 5*time.Second)
}
