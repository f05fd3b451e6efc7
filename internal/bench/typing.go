package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Typing workload: a 1920×1080 screen share whose source is a stand-in
// canvas stream (canvas.captureStream, as TestBrowserSharePatches does),
// showing a page of text, a cursor that blinks at 2 Hz (shown 250 ms,
// hidden 250 ms) and text typed at 5 characters/s, for Options.Typing.
// The board shares it with shareStream at typingFPS, in the page's default
// format (WebP). The text comes from Options.Seed.
const (
	typingW, typingH = 1920, 1080
	typingFPS        = 5
	typingCharMS     = 200 // 5 characters/s
	typingBlinkMS    = 250 // 2 Hz
)

var typingWords = strings.Fields(`the relay sends only what changed while any plain client still sees
full drawable images a patch is the rectangle of the layer that changed since the last frame
viewers apply it to the sender's layer and redraw latest wins never drops a patch from the middle
keyframe requests bound the layer log and late joiners get the full frame and every patch since`)

// typingText returns n characters of prose from seed.
func typingText(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 5))
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(typingWords[rng.IntN(len(typingWords))])
	}
	return b.String()[:n]
}

// typingJS builds the stand-in screen in the sender page and starts
// sharing it; window.standIn.stop() freezes it with the cursor shown.
const typingJS = `(async (cfg) => {
  const c = document.createElement("canvas");
  c.width = cfg.w;
  c.height = cfg.h;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.font = "20px monospace";
  ctx.textBaseline = "top";
  const cw = Math.ceil(ctx.measureText("M").width), lh = 26, left = 40;
  const cols = Math.floor((c.width - 2 * left) / cw);
  ctx.fillStyle = "#e8e8e8";
  ctx.fillRect(0, 0, c.width, 36);
  ctx.fillStyle = "#203040";
  ctx.fillText("notes.txt - editor", left, 8);
  const page = cfg.page;
  let row = 0;
  for (let i = 0; i < page.length && row < 26; i += cols, row++) ctx.fillText(page.slice(i, i + cols), left, 50 + row * lh);
  const st = { typed: 0, blinks: 0, on: true, x: left, y: 50 + (row + 1) * lh };
  const cursor = (on) => {
    ctx.fillStyle = on ? "#102030" : "#ffffff";
    ctx.fillRect(st.x, st.y - 1, 2, lh - 2);
  };
  const type = () => {
    cursor(false);
    ctx.fillStyle = "#102030";
    ctx.fillText(cfg.text[st.typed % cfg.text.length], st.x + 3, st.y);
    st.typed++;
    st.x += cw;
    if (st.x + cw > c.width - left) {
      st.x = left;
      st.y += lh;
    }
    cursor(st.on);
  };
  const blink = () => {
    st.on = !st.on;
    st.blinks++;
    cursor(st.on);
  };
  cursor(true);
  window.standIn = st;
  st.canvas = c;
  st.stop = () => {
    clearInterval(st.typeTimer);
    clearInterval(st.blinkTimer);
    st.on = true;
    cursor(true);
    return { typed: st.typed, blinks: st.blinks };
  };
  await window.canvasrelay.shareStream(c.captureStream(), cfg.fps, { quality: cfg.quality });
  st.typeTimer = setInterval(type, cfg.charMs);
  st.blinkTimer = setInterval(blink, cfg.blinkMs);
  return true;
})`

func runTyping(ctx context.Context, r *patchRun) error {
	p := r.sender
	chars := int(r.o.Typing/time.Second)*1000/typingCharMS + 10
	cfg := fmt.Sprintf(`{w: %d, h: %d, fps: %d, charMs: %d, blinkMs: %d, quality: %g, page: %s, text: %s}`,
		typingW, typingH, typingFPS, typingCharMS, typingBlinkMS, r.quality,
		jsString(typingText(3600, uint64(r.o.Seed)+1)), jsString(typingText(chars, uint64(r.o.Seed))))
	start := time.Now()
	if err := p.eval(typingJS+"("+cfg+")", nil); err != nil {
		return err
	}
	r.res.Canvas = fmt.Sprintf("%dx%d", typingW, typingH)
	if err := p.waitTrue("window.canvasrelay.share.active && window.canvasrelay.share.sent >= 1", 20*time.Second); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(r.o.Typing - time.Since(start)):
	}
	var st struct{ Typed, Blinks int }
	if err := p.eval("window.standIn.stop()", &st); err != nil {
		return err
	}
	r.res.Seconds = time.Since(start).Seconds()
	r.res.Typed, r.res.Blinks = st.Typed, st.Blinks
	// The frozen screen goes out at the next tick; two skipped ticks after
	// it say the share has nothing more to send.
	var share struct{ Skipped int }
	if err := p.eval("window.canvasrelay.share", &share); err != nil {
		return err
	}
	if err := p.waitTrue(fmt.Sprintf("window.canvasrelay.share.skipped >= %d", share.Skipped+2), 20*time.Second); err != nil {
		return err
	}
	if err := shareCounts(p, r.res); err != nil {
		return err
	}
	if err := r.finish("window.standIn.canvas"); err != nil {
		return err
	}
	if err := shareCounts(p, r.res); err != nil {
		return err
	}
	return p.eval(`(() => { document.getElementById("share").click(); return true; })()`, nil)
}

// shareCounts reads the board's screen share counters.
func shareCounts(p *tab, res *PatchesResult) error {
	var s struct {
		Sent, Skipped, Patches, PatchFrames int
		Bytes, PatchBytes                   int64
	}
	if err := p.eval("window.canvasrelay.share", &s); err != nil {
		return err
	}
	// A captured frame may go as a few patch images: count images, as the
	// viewers do.
	res.Sent = SenderCounts{
		Frames: s.Sent - s.Patches + s.PatchFrames, Patches: s.PatchFrames,
		Bytes: s.Bytes, PatchBytes: s.PatchBytes, Skipped: s.Skipped,
	}
	return nil
}
