package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// TestBrowserShareFullFramesOnly: a board opened with ?patches=0 shares a
// screen (a stand-in canvas stream) in full frames only, as against a relay
// without layer log. The socket worker still compares each captured frame
// with the last one sent: an unchanged frame is skipped, not sent again
// every tick, and a changed one goes whole, never as a patch. The viewer
// ends with the very picture of the screen (lossless WebP), pixel for pixel.
func TestBrowserShareFullFramesOnly(t *testing.T) {
	e := newEnv(t, relay.Config{MaxBytes: maxBytes})
	s := e.open(t, "Sharer", "/r/sharefull?patches=0", pageOpts{})
	v := e.open(t, "Viewer", "/v/sharefull", pageOpts{})
	var sends bool
	s.eval("window.canvasrelay.sendsPatches", &sends)
	if sends {
		t.Fatal("?patches=0: the page says it sends patches")
	}
	s.eval(`(async () => {
  const c = document.createElement("canvas");
  c.width = 640;
  c.height = 360;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, 640, 360);
  ctx.fillStyle = "#102030";
  ctx.font = "28px sans-serif";
  ctx.fillText("full frames:", 20, 60);
  window.standIn = { c, ctx };
  await window.canvasrelay.shareStream(c.captureStream(), 10, { quality: 1 });
  return true;
})()`, nil)
	s.waitTrue("window.canvasrelay.share.active && window.canvasrelay.share.sent >= 1", 10*time.Second)
	// Nothing changes: the ticks (10 a second) are skipped, not sent.
	var st struct{ Sent, Skipped, Patches int }
	s.eval("window.canvasrelay.share", &st)
	s.waitTrue(fmt.Sprintf("window.canvasrelay.share.skipped >= %d", st.Skipped+5), 10*time.Second)
	var idle struct{ Sent, Skipped, Patches int }
	s.eval("window.canvasrelay.share", &idle)
	if idle.Sent != st.Sent {
		t.Errorf("the unchanged screen was sent again: %d frames, then %d after 5 skipped ticks", st.Sent, idle.Sent)
	}
	for i, ch := range "abc" {
		var sent int
		s.eval("window.canvasrelay.share.sent", &sent)
		s.eval(fmt.Sprintf(`(() => { window.standIn.ctx.fillText(%q, %d, 60); return true; })()`, string(ch), 200+i*18), nil)
		s.waitTrue(fmt.Sprintf("window.canvasrelay.share.sent > %d", sent), 15*time.Second)
	}
	s.eval("window.canvasrelay.share", &st)
	if st.Patches != 0 {
		t.Errorf("?patches=0: the share sent %d patches", st.Patches)
	}
	v.waitTrue(fmt.Sprintf("window.canvasrelay.frames >= %d", 4), 10*time.Second)
	var got int
	v.eval("window.canvasrelay.patchesReceived", &got)
	if got != 0 {
		t.Errorf("the viewer applied %d patches from a full-frames-only share", got)
	}
	// The viewer shows the screen itself, pixel for pixel.
	const screen = `(() => {
  const c = window.standIn.c;
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let h = 0x811c9dc5;
  for (let i = 0; i < d.length; i++) { h ^= d[i]; h = Math.imul(h, 0x01000193); }
  return c.width + "x" + c.height + ":" + (h >>> 0);
})()`
	var want string
	s.eval(screen, &want)
	if err := v.poll(pictureHash+" === "+fmt.Sprintf("%q", want), 15*time.Second); err != nil {
		var seen string
		v.eval(pictureHash, &seen)
		t.Errorf("the viewer shows %s, the screen is %s", seen, want)
	}
	s.eval(`(() => { document.getElementById("share").click(); return true; })()`, nil)
	s.waitTrue("!window.canvasrelay.share.active", 5*time.Second)
}
