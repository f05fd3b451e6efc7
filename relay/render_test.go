package relay

import (
	"bytes"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// nextFrame skips presence events and returns the next frame event and its image.
func (c *tclient) nextFrame(timeout time.Duration) (tmsg, []byte) {
	c.t.Helper()
	for {
		m := c.next(timeout)
		if m.op == gws.OpcodeText && m.typ == TypePresence {
			continue
		}
		if m.op != gws.OpcodeText || m.typ != TypeFrame {
			c.t.Fatalf("got %s, want a frame event", describe(m))
		}
		bin := c.next(timeout)
		if bin.op != gws.OpcodeBinary {
			c.t.Fatalf("got %s, want the image after its frame event", describe(bin))
		}
		return m, bin.data
	}
}

func decodeSize(t *testing.T, b []byte) (string, int, int) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("received image does not decode: %v", err)
	}
	return format, cfg.Width, cfg.Height
}

func TestRenditionsPerSubscriber(t *testing.T) {
	srv, u := startServer(t, Config{})
	img := readTestdata(t, "canvas-1920x1080.png")
	pub := dial(t, u, "rend", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	orig := dial(t, u, "rend", dialOpt{query: "client=orig"})
	orig.expect(TypeHello)
	j1 := dial(t, u, "rend", dialOpt{query: "client=j1&max_width=640&format=jpeg"})
	j1.expect(TypeHello)
	j2 := dial(t, u, "rend", dialOpt{query: "client=j2&max_width=640&format=jpeg"}) // same rendition as j1
	j2.expect(TypeHello)
	p1 := dial(t, u, "rend", dialOpt{query: "client=p1&max_width=320&format=png"})
	p1.expect(TypeHello)

	const frames = 3
	for i := 1; i <= frames; i++ {
		pub.sendBinary(img)
		pub.expectSkippingFrames(TypeAck)
		for _, tc := range []struct {
			c      *tclient
			format string
			w, h   int
		}{{orig, "png", 1920, 1080}, {j1, "jpeg", 640, 360}, {j2, "jpeg", 640, 360}, {p1, "png", 320, 180}} {
			ev, b := tc.c.nextFrame(10 * time.Second)
			f, w, h := decodeSize(t, b)
			if f != tc.format || w != tc.w || h != tc.h {
				t.Fatalf("frame %d: got %s %dx%d, want %s %dx%d", i, f, w, h, tc.format, tc.w, tc.h)
			}
			if str(ev.ev, "format") != tc.format || num(ev.ev, "width") != tc.w || num(ev.ev, "height") != tc.h || num(ev.ev, "bytes") != len(b) || num(ev.ev, "seq") != i || str(ev.ev, "client") != "pub" {
				t.Fatalf("frame %d: event %s does not describe the %s %dx%d image of %d bytes", i, ev.data, tc.format, tc.w, tc.h, len(b))
			}
			if tc.c == orig && !bytes.Equal(b, img) {
				t.Fatalf("the original subscriber did not get the original bytes")
			}
		}
	}
	// Two renditions, three frames: six encodes, whatever the subscriber count.
	if got := testutil.ToFloat64(srv.metrics.reencodes.WithLabelValues("rendition")); got != 2*frames {
		t.Errorf("rendition encodes: got %v, want %d (once per frame and rendition)", got, 2*frames)
	}
	if got := testutil.ToFloat64(srv.metrics.rendMisses); got != 2*frames {
		t.Errorf("rendition cache misses: got %v, want %d", got, 2*frames)
	}

	// A late joiner asking for a rendition gets the layer rendered.
	late := dial(t, u, "rend", dialOpt{query: "client=late&max_height=90&format=jpeg"})
	late.expect(TypeHello)
	_, b := late.nextFrame(10 * time.Second)
	if f, w, h := decodeSize(t, b); f != "jpeg" || w != 160 || h != 90 {
		t.Fatalf("late joiner's layer: got %s %dx%d, want jpeg 160x90", f, w, h)
	}
}

func TestBadRenditionParams(t *testing.T) {
	_, u := startServer(t, Config{MaxRenditionsPerRoom: 1})
	for _, q := range []string{"max_width=0", "max_width=abc", "format=bmp", "quality=101", "max_height=99999"} {
		if _, resp, err := tryDial(t, u, "r", dialOpt{query: q}); err == nil || resp == nil || resp.StatusCode != 400 {
			t.Errorf("%s: got %v, want HTTP 400", q, err)
		}
	}
	dial(t, u, "r", dialOpt{query: "max_width=100"}).expect(TypeHello)
	dial(t, u, "r", dialOpt{query: "max_width=100"}).expect(TypeHello) // the same one is fine
	if _, resp, err := tryDial(t, u, "r", dialOpt{query: "max_width=200"}); err == nil || resp == nil || resp.StatusCode != 503 {
		t.Errorf("a second distinct rendition: got %v, want HTTP 503", err)
	}
}

// One publisher sends 1080p PNGs at 30 fps to a 640 px subscriber: work is
// coalesced (at most one pending per source and rendition), memory stays
// bounded, and the last frame the subscriber gets is the last one sent.
func TestRenditionCoalescesUnderLoad(t *testing.T) {
	srv, u := startServer(t, Config{Workers: 1, ByteRate: -1})
	img := readTestdata(t, "canvas-1920x1080.png")
	pub := dial(t, u, "fast", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	sub := dial(t, u, "fast", dialOpt{query: "client=sub&" + url.Values{"max_width": {"640"}, "format": {"jpeg"}}.Encode()})
	sub.expect(TypeHello)

	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	const n = 60
	maxPending := 0
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		<-tick.C
		pub.sendBinary(img)
		maxPending = max(maxPending, srv.pool.Stats().Pending)
	}
	lastSeq := 0
	deadline := time.Now().Add(20 * time.Second)
	for lastSeq != n {
		if time.Now().After(deadline) {
			t.Fatalf("the subscriber's last frame has seq %d, want %d", lastSeq, n)
		}
		m := sub.next(20 * time.Second)
		if m.typ == TypeFrame {
			lastSeq = num(m.ev, "seq")
		}
	}
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	st := srv.pool.Stats()
	t.Logf("%d frames sent at 30 fps; pool: %d submitted, %d replaced (coalesced), %d completed; max pending %d; heap %d → %d MiB",
		n, st.Submitted, st.Replaced, st.Completed, maxPending, m0.HeapInuse>>20, m1.HeapInuse>>20)
	if maxPending > 1 {
		t.Errorf("pending re-encodes: got %d, want at most 1 for one (source, rendition)", maxPending)
	}
	if m1.HeapInuse > m0.HeapInuse+256<<20 {
		t.Errorf("heap grew from %d to %d bytes", m0.HeapInuse, m1.HeapInuse)
	}
}

func TestIngestNormalizeAndVerifyFull(t *testing.T) {
	_, u := startServer(t, Config{Verify: VerifyFull, Normalize: true, IngestOptions: imageprocOptions(320, "jpeg")})
	pub := dial(t, u, "ing", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	sub := dial(t, u, "ing", dialOpt{query: "client=sub"})
	sub.expect(TypeHello)
	pub.expect(TypePresence)

	pub.sendBinary(readTestdata(t, "truncated-body.png"))
	if e := pub.expect(TypeError); str(e.ev, "code") != CodeInvalidImage || num(e.ev, "seq") != 1 {
		t.Fatalf("truncated body under verify full: got %s, want invalid_image seq 1", e.data)
	}
	pub.sendBinary(readTestdata(t, "canvas-1920x1080.png"))
	ack := pub.expect(TypeAck)
	if str(ack.ev, "format") != "jpeg" || num(ack.ev, "width") != 320 || num(ack.ev, "height") != 180 {
		t.Fatalf("ack after normalising: got %s, want jpeg 320x180", ack.data)
	}
	_, b := sub.nextFrame(10 * time.Second)
	if f, w, h := decodeSize(t, b); f != "jpeg" || w != 320 || h != 180 {
		t.Fatalf("normalised frame: got %s %dx%d, want jpeg 320x180", f, w, h)
	}
	// The layer is the normalised frame too.
	late := dial(t, u, "ing", dialOpt{})
	late.expect(TypeHello)
	if _, lb := late.nextFrame(5 * time.Second); !bytes.Equal(lb, b) {
		t.Fatalf("the layer is not the normalised frame")
	}
}
