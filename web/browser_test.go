package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/lxzan/gws"
)

// maxBytes is the relay's image limit in these tests: big enough for a
// whiteboard layer, small enough that a pasted photo is refused.
const maxBytes = 200 << 10

var (
	red   = [3]int{230, 20, 20}
	green = [3]int{20, 170, 60}
)

// TestBrowser drives real headless Chromium against a real relay: the
// whiteboard, chat, presence, the viewer, reconnects and size limits. The
// steps share one browser and run in order.
func TestBrowser(t *testing.T) {
	e := newEnv(t, relay.Config{MaxBytes: maxBytes})
	start := time.Now()
	defer func() { t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond)) }()

	a := e.open(t, "A", "/r/e2e?name=ignored", pageOpts{})
	b := e.open(t, "B", "/r/e2e", pageOpts{})
	rename(a, "Alice")
	rename(b, "Bob")

	t.Run("distinct client ids and worker socket", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		var ida, idb, mode string
		a.eval("window.canvasrelay.client", &ida)
		b.eval("window.canvasrelay.client", &idb)
		if ida == "" || ida == idb {
			t.Errorf("client ids: got %q and %q, want two different non-empty ids", ida, idb)
		}
		a.eval("window.canvasrelay.mode", &mode)
		if mode != "worker" {
			t.Errorf("socket mode: got %q, want worker", mode)
		}
		var info map[string]any
		a.eval("window.canvasrelay.info", &info)
		if info["protocol"] != "canvasrelay.v1" || info["binaryType"] != "blob" {
			t.Errorf("connection info: got %v, want protocol canvasrelay.v1 and binaryType blob", info)
		}
	})

	t.Run("identity: the page keeps client and resume; a held id is replaced by the relay's", func(t *testing.T) {
		a := a.in(t)
		var ida, resume string
		a.eval("window.canvasrelay.client", &ida)
		a.eval(`(JSON.parse(localStorage.getItem("canvasrelay.resume") || "{}"))[window.canvasrelay.client] || ""`, &resume)
		if resume == "" || len(resume) > 64 {
			t.Fatalf("stored resume of %q: %q, want the hello's", ida, resume)
		}
		// A program holds "held-id" in the room; a page whose stored id is
		// "held-id", with no resume for it, must take the relay's fresh id.
		held := dialGo(t, e.addr, "e2e", "held")
		defer held.close()
		a.eval(`(() => { const l = JSON.parse(localStorage.getItem("canvasrelay.clients") || "[]"); localStorage.setItem("canvasrelay.clients", JSON.stringify(["held-id", ...l.filter((x) => x !== "held-id")])); return ""; })()`, new(string))
		c := e.open(t, "C-identity", "/r/e2e", pageOpts{})
		defer c.close()
		var idc, stored string
		var list []string
		c.eval("window.canvasrelay.client", &idc)
		c.eval(`localStorage.getItem("canvasrelay.clients")`, &stored)
		if err := json.Unmarshal([]byte(stored), &list); err != nil {
			t.Fatalf("stored ids %q: %v", stored, err)
		}
		if idc == "" || idc == "held-id" || !slices.Contains(list, idc) || slices.Contains(list, "held-id") {
			t.Errorf("page that asked for a held id: client %q, stored ids %v; want the relay's fresh id in place of held-id", idc, list)
		}
		var resumeC string
		c.eval(`(JSON.parse(localStorage.getItem("canvasrelay.resume") || "{}"))[window.canvasrelay.client] || ""`, &resumeC)
		if resumeC == "" || resumeC == resume {
			t.Errorf("resume of the fresh id: %q", resumeC)
		}
	})

	t.Run("stroke on A appears in B's destination", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		setColor(a, "#e61414")
		a.strokeMouse(0.1, 0.3, 0.5, 0.3)
		b.waitTrue(colorCount("destination", red, 0.08, 0.25, 0.52, 0.35)+" > 300", 10*time.Second)
		// Nowhere else: the stroke keeps its place.
		var elsewhere, ownA, srcB int
		b.eval(colorCount("destination", red, 0, 0.5, 1, 1), &elsewhere)
		a.eval(colorCount("destination", red, 0.08, 0.25, 0.52, 0.35), &ownA)
		b.eval(colorCount("source", red, 0, 0, 1, 1), &srcB)
		if elsewhere != 0 {
			t.Errorf("B destination: got %d red pixels in the lower half, want 0", elsewhere)
		}
		if ownA < 300 {
			t.Errorf("A destination: got %d red pixels of its own stroke, want > 300 (own layer on top)", ownA)
		}
		if srcB != 0 {
			t.Errorf("B source: got %d red pixels, want 0 (A's stroke is not B's layer)", srcB)
		}
		// Transparency is kept: the destination is transparent off the stroke.
		var alpha int
		b.eval(`document.getElementById("destination").getContext("2d").getImageData(1200, 650, 1, 1).data[3]`, &alpha)
		if alpha != 0 {
			t.Errorf("B destination alpha off the stroke: got %d, want 0", alpha)
		}
	})

	t.Run("chat from A appears in B", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		a.do(chromedp.SendKeys(chromedp.ID("textmessage"), "hello from A\n"))
		b.waitText("chatLog", "Alice: hello from A", 5*time.Second)
		b.waitText("serverResponse", "Alice: hello from A", time.Second)
		a.waitText("chatLog", "Alice (you): hello from A", time.Second)
		if got := a.text("textmessage"); got != "" {
			t.Errorf("A input after send: got %q, want empty", got)
		}
	})

	t.Run("presence counts a third page joining and leaving", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		a.waitText("presence", "2 connected", 5*time.Second)
		c := e.open(t, "C", "/r/e2e", pageOpts{})
		rename(c, "Carol")
		a.waitText("presence", "3 connected", 5*time.Second)
		b.waitText("presence", "3 connected", 5*time.Second)
		a.waitText("chatLog", "Carol joined", 5*time.Second)
		// C joined late: it gets A's layer right after hello.
		c.waitTrue(colorCount("destination", red, 0.08, 0.25, 0.52, 0.35)+" > 300", 5*time.Second)
		c.screenshot(e.shots, "whiteboard-C-late-joiner.png")
		c.close()
		a.waitText("presence", "2 connected", 5*time.Second)
		b.waitText("presence", "2 connected", 5*time.Second)
		a.waitText("chatLog", "Carol left", 5*time.Second)
	})

	t.Run("phone: touch stroke, narrow screen", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		m := e.open(t, "Phone", "/r/e2e", pageOpts{width: 390, height: 844, mobile: true})
		setColor(m, "#14aa3c")
		m.strokeTouch(0.2, 0.7, 0.8, 0.7)
		b.waitTrue(colorCount("destination", green, 0.15, 0.65, 0.85, 0.75)+" > 300", 10*time.Second)
		var overflow bool
		m.eval("document.documentElement.scrollWidth > window.innerWidth + 1", &overflow)
		if overflow {
			t.Error("phone: page is wider than the screen (horizontal scroll)")
		}
		m.screenshot(e.shots, "whiteboard-phone.png")
		m.do(chromedp.Click(chromedp.ID("clear")))
		b.waitTrue(colorCount("destination", green, 0, 0, 1, 1)+" == 0", 10*time.Second)
		m.close()
		a.waitText("presence", "2 connected", 5*time.Second)
	})

	t.Run("keyboard drawing", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		setColor(a, "#1414e6")
		keys := " " + strings.Repeat(kb.ArrowRight, 10) + strings.Repeat(kb.ArrowDown, 4) + " "
		a.do(chromedp.Focus(chromedp.ID("source")), chromedp.SendKeys(chromedp.ID("source"), keys))
		// The brush starts at the centre and moves 80 px right, 32 px down.
		b.waitTrue(colorCount("destination", [3]int{20, 20, 230}, 0.49, 0.49, 0.57, 0.56)+" > 100", 10*time.Second)
		a.do(chromedp.Click(chromedp.ID("eraser")))
		var pressed string
		a.eval(`document.getElementById("eraser").getAttribute("aria-pressed")`, &pressed)
		if pressed != "true" {
			t.Errorf("eraser aria-pressed: got %q, want true", pressed)
		}
		// Erase back along the same path: up, then left.
		a.do(chromedp.SendKeys(chromedp.ID("source"), " "+strings.Repeat(kb.ArrowUp, 4)+strings.Repeat(kb.ArrowLeft, 10)+" "))
		b.waitTrue(colorCount("destination", [3]int{20, 20, 230}, 0.49, 0.49, 0.57, 0.56)+" < 10", 10*time.Second)
		a.do(chromedp.Click(chromedp.ID("eraser")))
	})

	t.Run("landing page: recent rooms, invalid name, open a room", func(t *testing.T) {
		l := e.openNoWaitFor(t, "Landing", "/", "document.getElementById('recentList').children.length > 0")
		if got := l.text("recentList"); !strings.Contains(got, "e2e") {
			t.Errorf("recent rooms: got %q, want it to list e2e", got)
		}
		l.do(chromedp.SendKeys(chromedp.ID("room"), "bad room!"), chromedp.Click(chromedp.ID("openBoard")))
		l.waitText("roomError", "cannot use", 2*time.Second)
		l.screenshot(e.shots, "landing-invalid.png")
		l.eval(`document.getElementById("room").value = ""`, nil)
		l.do(chromedp.SendKeys(chromedp.ID("room"), "from-landing"), chromedp.Click(chromedp.ID("openBoard")))
		l.waitTrue(`location.pathname === "/r/from-landing" && window.canvasrelay && window.canvasrelay.hellos >= 1`, 10*time.Second)
		l.close()
	})

	t.Run("landing page: the game beside the whiteboard and the viewer", func(t *testing.T) {
		l := e.openNoWaitFor(t, "LandingGame", "/", "document.getElementById('recentList').children.length > 0")
		var links string
		l.eval(`[...document.querySelectorAll('#recentList li:first-child a')].map(a => a.getAttribute("href")).join(" ")`, &links)
		for _, want := range []string{"/r/", "/v/", "/g/"} {
			if !strings.Contains(links, want) {
				t.Errorf("a recent room links %q, want a %s link among them", links, want)
			}
		}
		l.do(chromedp.SendKeys(chromedp.ID("room"), "game-landing"), chromedp.Click(chromedp.ID("openGame")))
		l.waitTrue(`location.pathname === "/g/game-landing"`, 10*time.Second)
		l.close()
	})

	t.Run("viewer shows a frame from a Go client", func(t *testing.T) {
		v1 := e.open(t, "Viewer", "/v/mirror", pageOpts{})
		orange := solidPNG(t, 320, 180, color.NRGBA{255, 128, 0, 255})
		pub := dialGo(t, e.addr, "mirror", "gobot")
		pub.send(t, orange)
		v1.waitTrue("window.canvasrelay.frames >= 1", 5*time.Second)
		checkCenter(t, v1, [3]int{255, 128, 0})
		var w int
		v1.eval(`document.getElementById("destination").width`, &w)
		if w != 320 {
			t.Errorf("viewer canvas width: got %d, want 320 (the frame's size)", w)
		}
		v1.screenshot(e.shots, "viewer.png")
		// A viewer that joins later gets the frame right after hello.
		v2 := e.open(t, "Viewer2", "/v/mirror", pageOpts{width: 800, height: 800})
		v2.waitTrue("window.canvasrelay.frames >= 1", 5*time.Second)
		checkCenter(t, v2, [3]int{255, 128, 0})
		v2.screenshot(e.shots, "viewer-late-square-window.png")
		pub.close()
		v2.close()
		v1.close()
	})

	t.Run("share screen: frames reach a viewer, unchanged frames are skipped", func(t *testing.T) {
		// A landing page gets the title the browser picks for capture.
		l := e.openNoWaitFor(t, "Captured", "/", "document.getElementById('joinForm')")
		l.eval(fmt.Sprintf("document.title = %q", shareTitle), nil)
		s := e.open(t, "Sharer", "/r/share", pageOpts{})
		v := e.open(t, "ShareViewer", "/v/share", pageOpts{})
		s.eval(`document.getElementById("shareFps").value = "5"`, nil)
		s.do(chromedp.Click(chromedp.ID("share")))
		s.waitTrue("window.canvasrelay.share.active", 5*time.Second)
		v.waitTrue("window.canvasrelay.frames >= 1", 30*time.Second)
		var w, h int
		v.eval(`document.getElementById("destination").width`, &w)
		v.eval(`document.getElementById("destination").height`, &h)
		if w < 200 || h < 200 {
			t.Errorf("shared frame size: got %dx%d, want the captured tab's size", w, h)
		}
		// The captured page does not change: after the first frame, ticks
		// are skipped rather than sent.
		s.waitTrue("window.canvasrelay.share.skipped >= 5", 20*time.Second)
		var st struct{ Sent, Skipped int }
		s.eval("window.canvasrelay.share", &st)
		// The first frame, and up to two more while a loaded machine still
		// paints the captured tab; every later tick is skipped.
		if st.Sent > 3 {
			t.Errorf("frames sent of an unchanged tab: got %d, want at most 3 (skipped %d)", st.Sent, st.Skipped)
		}
		v.screenshot(e.shots, "viewer-screen-share.png")
		s.screenshot(e.shots, "whiteboard-sharing.png")
		s.do(chromedp.Click(chromedp.ID("share")))
		s.waitTrue("!window.canvasrelay.share.active", 5*time.Second)
		v.close()
		s.close()
		l.close()
	})

	a.screenshot(e.shots, "whiteboard-A.png")
	b.screenshot(e.shots, "whiteboard-B.png")

	t.Run("both pages reconnect after the server restarts", func(t *testing.T) {
		a, b := a.in(t), b.in(t)
		var ha, hb int
		a.eval("window.canvasrelay.hellos", &ha)
		b.eval("window.canvasrelay.hellos", &hb)
		e.restart(t)
		a.waitTrue(fmt.Sprintf("window.canvasrelay.hellos > %d", ha), 15*time.Second)
		b.waitTrue(fmt.Sprintf("window.canvasrelay.hellos > %d", hb), 15*time.Second)
		a.waitText("serverStatus", "open", 2*time.Second)
		b.waitText("serverStatus", "open", 2*time.Second)
		a.waitText("presence", "2 connected", 5*time.Second)
		// The new relay works both ways: a new stroke on A reaches B.
		setColor(a, "#14aa3c")
		a.strokeMouse(0.1, 0.8, 0.6, 0.8)
		b.waitTrue(colorCount("destination", green, 0.08, 0.75, 0.62, 0.85)+" > 300", 10*time.Second)
		// A third page sees A's older stroke: A sent its layer again to
		// the new relay, which had never seen it.
		c := e.open(t, "C2", "/r/e2e", pageOpts{})
		c.waitTrue(colorCount("destination", red, 0.08, 0.25, 0.52, 0.35)+" > 300", 5*time.Second)
		c.close()
		b.waitText("chatLog", "Reconnected.", time.Second)
		b.screenshot(e.shots, "whiteboard-B-after-restart.png")
	})

	t.Run("pasting an image over the size limit shows the error, no reconnect loop", func(t *testing.T) {
		a := a.in(t)
		var hellos int
		a.eval("window.canvasrelay.hellos", &hellos)
		// A noisy 600x600 PNG is well over 200 KiB. Paste it as a file.
		a.eval(`(async () => {
  const c = new OffscreenCanvas(600, 600);
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(600, 600);
  crypto.getRandomValues(img.data.subarray(0, 65536));
  for (let i = 65536; i < img.data.length; i += 65536) img.data.copyWithin(i, 0, 65536);
  for (let i = 0; i < img.data.length; i++) img.data[i] ^= (i * 2654435761) >>> 24;
  ctx.putImageData(img, 0, 0);
  const blob = await c.convertToBlob({ type: "image/png" });
  window.bigBlob = blob;
  const dt = new DataTransfer();
  dt.items.add(new File([blob], "huge.png", { type: "image/png" }));
  document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  return blob.size;
})()`, nil)
		var size int
		a.eval("window.bigBlob.size", &size)
		if size <= maxBytes {
			t.Fatalf("test image: got %d bytes, want more than %d", size, maxBytes)
		}
		a.waitText("errors", "too_large", 3*time.Second)
		a.screenshot(e.shots, "whiteboard-A-too-large.png")
		time.Sleep(1500 * time.Millisecond)
		var now int
		a.eval("window.canvasrelay.hellos", &now)
		if now != hellos {
			t.Errorf("hellos after a refused paste: got %d, want %d (no reconnect)", now, hellos)
		}
		a.waitText("serverStatus", "open", time.Second)

		// Sent anyway, past the page's check, the socket's own check
		// (it knows max_bytes from hello) refuses it and keeps the
		// connection: the relay would close it with 1009.
		a.eval(`document.getElementById("errors").replaceChildren()`, nil)
		a.eval("window.canvasrelay.publishRaw(window.bigBlob)", nil)
		a.waitText("errors", "was not sent", 3*time.Second)
		time.Sleep(time.Second)
		a.eval("window.canvasrelay.hellos", &now)
		if now != hellos {
			var st []string
			a.eval("window.canvasrelay.statuses", &st)
			t.Errorf("hellos after a refused raw frame: got %d, want %d (status history %q)", now, hellos, st)
		}
		a.waitText("serverStatus", "open", time.Second)
	})

	t.Run("close 1008 and 1009 are shown and not retried", func(t *testing.T) {
		for _, tc := range []struct {
			room string
			code uint16
			want string
		}{
			{"close-1008", 1008, "refused by policy (1008): origin not allowed"},
			{"close-1009", 1009, "message too big (1009): frame over the limit"},
		} {
			t.Run(tc.room, func(t *testing.T) {
				p := e.openNoWait(t, tc.room, "/r/"+tc.room)
				p.waitText("serverStatus", tc.want, 5*time.Second)
				p.waitText("serverStatus", "Not retrying", time.Second)
				time.Sleep(2 * time.Second)
				if got := e.closer.dials(tc.room); got != 1 {
					t.Errorf("connection attempts after close %d: got %d, want 1", tc.code, got)
				}
				var hidden bool
				p.eval(`document.getElementById("reconnect").hidden`, &hidden)
				if hidden {
					t.Errorf("Reconnect button: hidden after close %d, want shown", tc.code)
				}
				p.screenshot(e.shots, "whiteboard-"+tc.room+".png")
				// Reconnect by hand: one more attempt, no more.
				p.do(chromedp.Click(chromedp.ID("reconnect")))
				deadline := time.Now().Add(5 * time.Second)
				for e.closer.dials(tc.room) < 2 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				p.waitText("serverStatus", "Not retrying", 5*time.Second)
				time.Sleep(time.Second)
				if got := e.closer.dials(tc.room); got != 2 {
					t.Errorf("connection attempts after Reconnect: got %d, want 2", got)
				}
			})
		}
	})

	a.checkConsole()
	b.checkConsole()
}

func rename(p *page, name string) {
	p.t.Helper()
	var before int
	p.eval("window.canvasrelay.hellos", &before)
	p.eval(`document.getElementById("name").value = ""`, nil)
	p.do(
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.Click(chromedp.ID("rename")),
	)
	p.waitTrue(fmt.Sprintf("window.canvasrelay.hellos > %d", before), 5*time.Second)
}

func setColor(p *page, hex string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`(() => { const c = document.getElementById("color"); c.value = %q; c.dispatchEvent(new Event("input")); })()`, hex), nil)
}

func checkCenter(t *testing.T, p *page, want [3]int) {
	t.Helper()
	js := `(() => { const c = document.getElementById("destination"); return Array.from(c.getContext("2d").getImageData(c.width >> 1, c.height >> 1, 1, 1).data); })()`
	deadline := time.Now().Add(5 * time.Second)
	var got []int
	for {
		p.eval(js, &got)
		if len(got) == 4 && near(got[0], want[0]) && near(got[1], want[1]) && near(got[2], want[2]) && got[3] == 255 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: centre pixel: got %v, want %v", p.name, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func near(a, b int) bool { return a-b < 8 && b-a < 8 }

func solidPNG(t *testing.T, w, h int, c color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		copy(img.Pix[i:], []byte{c.R, c.G, c.B, c.A})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// goClient is a plain gws client, as any program would use.
type goClient struct {
	gws.BuiltinEventHandler
	conn *gws.Conn
	msgs chan map[string]any
}

func (c *goClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	if m.Opcode != gws.OpcodeText {
		return
	}
	var v map[string]any
	if json.Unmarshal(m.Bytes(), &v) == nil {
		select {
		case c.msgs <- v:
		default:
		}
	}
}

func dialGo(t *testing.T, addr, room, name string) *goClient {
	t.Helper()
	c := &goClient{msgs: make(chan map[string]any, 64)}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{Addr: fmt.Sprintf("ws://%s/ws/%s?name=%s&client=%s-id", addr, room, name, name)})
	if err != nil {
		t.Fatalf("dial relay: %v", err)
	}
	c.conn = conn
	go conn.ReadLoop()
	c.wait(t, "hello")
	return c
}

func (c *goClient) wait(t *testing.T, typ string) map[string]any {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m["type"] == typ {
				return m
			}
			if m["type"] == "error" {
				t.Fatalf("go client: got error %v, want %s", m, typ)
			}
		case <-timeout:
			t.Fatalf("go client: no %q event in 5s", typ)
		}
	}
}

func (c *goClient) send(t *testing.T, img []byte) {
	t.Helper()
	if err := c.conn.WriteMessage(gws.OpcodeBinary, img); err != nil {
		t.Fatalf("go client: send: %v", err)
	}
	if ack := c.wait(t, "ack"); !strings.EqualFold(fmt.Sprint(ack["format"]), "png") {
		t.Fatalf("go client: ack %v, want format png", ack)
	}
}

func (c *goClient) close() { _ = c.conn.WriteClose(1000, nil) }
