package relay

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
)

// answerTime sends b and returns the server's answer to it and how long it
// took to arrive.
func answerTime(c *tclient, b []byte) (tmsg, time.Duration) {
	c.t.Helper()
	t0 := time.Now()
	c.sendBinary(b)
	for {
		m := c.next(60 * time.Second)
		if m.typ == TypeAck || m.typ == TypeError {
			return m, time.Since(t0)
		}
	}
}

// A progressive 4096x4096 JPEG of 116 KB made of 2,900 scans passes the
// header check, and each full decode of it costs about 20 s of CPU. A member
// that asks for a rendition makes the relay decode every frame it is sent.
// The scans are counted by a marker walk before anything decodes: the frame
// is refused with invalid_image at once, and the workers stay free.
func TestJPEGScanBombRefused(t *testing.T) {
	_, u := startServer(t, Config{})
	pub := dial(t, u, "scanbomb", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	rend := dial(t, u, "scanbomb", dialOpt{query: "client=rend&max_width=640&format=jpeg"})
	rend.expect(TypeHello)
	pub.expect(TypePresence)

	bomb := readTestdata(t, "scanbomb-4096x4096.jpg")
	// The fastest of up to 20 answers: a loaded machine (CI runs every
	// package at once, under -race) may delay any one of them, but not all.
	// It stops at the first one under the bound, and always sends at least 3.
	best := time.Hour
	for i := 1; i <= 20 && (i <= 3 || best > 10*time.Millisecond); i++ {
		m, d := answerTime(pub, bomb)
		if m.typ != TypeError || str(m.ev, "code") != CodeInvalidImage || num(m.ev, "seq") != i {
			t.Fatalf("scan bomb %d: got %s, want an invalid_image error with seq %d", i, m.data, i)
		}
		if msg := str(m.ev, "message"); !strings.Contains(msg, "scans") {
			t.Errorf("error message %q does not name the scans", msg)
		}
		best = min(best, d)
	}
	t.Logf("fastest refusal of the scan bomb: %s", best)
	if best > 10*time.Millisecond {
		t.Errorf("scan bomb refused in %s at best, want under 10 ms", best)
	}
	// The rendition member still gets renditions of good frames promptly.
	m, _ := answerTime(pub, readTestdata(t, "photo-64x48.jpg"))
	if m.typ != TypeAck {
		t.Fatalf("good jpeg: got %s, want ack", m.data)
	}
	if _, b := rend.nextFrame(10 * time.Second); len(b) == 0 {
		t.Fatal("empty rendition")
	}
}

// scanBomb100 is the scan bomb cut to the scan limit: Inspect accepts it,
// and its full decode takes about a second (several under -race).
func scanBomb100(t *testing.T) []byte {
	t.Helper()
	b := readTestdata(t, "scanbomb-4096x4096.jpg")
	first := bytes.Index(b, []byte{0xFF, 0xDA})
	return append(bytes.Clone(b[:first+40*imageproc.MaxJPEGScans]), 0xFF, 0xD9)
}

// waitMetric polls /metrics until it holds line.
func waitMetric(t *testing.T, srv *Server, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(scrape(t, srv), line) {
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %q", line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Every decode has a time budget: a job over it is abandoned, its sender
// hears invalid_image, and it is counted.
func TestImageJobOverBudgetAbandoned(t *testing.T) {
	t.Run("ingest", func(t *testing.T) {
		srv, u := startServer(t, Config{Verify: VerifyFull, ImageTimeout: 20 * time.Millisecond})
		pub := dial(t, u, "budget", dialOpt{query: "client=pub"})
		pub.expect(TypeHello)
		m, d := answerTime(pub, scanBomb100(t))
		if m.typ != TypeError || str(m.ev, "code") != CodeInvalidImage || !strings.Contains(str(m.ev, "message"), "time budget") {
			t.Fatalf("got %s, want invalid_image naming the time budget", m.data)
		}
		t.Logf("answered after %s", d)
		waitMetric(t, srv, `canvasrelay_image_jobs_abandoned_total{kind="ingest"} 1`)
		// Good frames still pass.
		if m, _ := answerTime(pub, readTestdata(t, "photo-64x48.jpg")); m.typ != TypeAck {
			t.Fatalf("good frame: got %s, want ack", m.data)
		}
	})
	t.Run("rendition", func(t *testing.T) {
		srv, u := startServer(t, Config{ImageTimeout: 20 * time.Millisecond})
		pub := dial(t, u, "budget", dialOpt{query: "client=pub"})
		pub.expect(TypeHello)
		rend := dial(t, u, "budget", dialOpt{query: "client=rend&max_width=64&format=png"})
		rend.expect(TypeHello)
		pub.expect(TypePresence)
		if m, _ := answerTime(pub, scanBomb100(t)); m.typ != TypeAck {
			t.Fatalf("got %s, want ack (the header and structure are fine)", m.data)
		}
		waitMetric(t, srv, `canvasrelay_image_jobs_abandoned_total{kind="rendition"} 1`)
		// The abandoned rendition is never delivered; the next frame's is.
		if m, _ := answerTime(pub, readTestdata(t, "canvas-opaque-64x48.png")); m.typ != TypeAck {
			t.Fatalf("good frame: got %s, want ack", m.data)
		}
		ev, _ := rend.nextFrame(20 * time.Second)
		if num(ev.ev, "seq") != 2 {
			t.Fatalf("rendition member got %s, want the frame of seq 2", ev.data)
		}
	})
}

// testdataAnswers is the answer every file in testdata/ gets from a relay
// with default flags: "ack" or an error code.
var testdataAnswers = map[string]string{
	"canvas-transparent-64x48.png":        "ack",
	"canvas-opaque-64x48.png":             "ack",
	"canvas-1920x1080.png":                "ack",
	"photo-64x48.jpg":                     "ack",
	"canvas-opaque-64x48.jpg":             "ack",
	"exif-orientation6-48x64.jpg":         "ack",
	"anim-2frames-64x48.gif":              "ack",
	"canvas-transparent-64x48.webp":       "ack",
	"canvas-transparent-lossy-64x48.webp": "ack",
	"canvas-opaque-64x48.webp":            "ack",
	"png16-interlaced-4096x4096.png":      "ack",

	"truncated-body.png":           CodeInvalidImage,
	"truncated-body.jpg":           CodeInvalidImage,
	"truncated-body.gif":           CodeInvalidImage,
	"truncated-body.webp":          CodeInvalidImage,
	"truncated-body-lossy.webp":    CodeInvalidImage,
	"truncated-header.png":         CodeInvalidImage,
	"truncated-header.jpg":         CodeInvalidImage,
	"truncated-header.gif":         CodeInvalidImage,
	"truncated-header.webp":        CodeInvalidImage,
	"badcrc.png":                   CodeInvalidImage,
	"padded-after-end.png":         CodeInvalidImage,
	"padded-after-end.jpg":         CodeInvalidImage,
	"padded-after-end.gif":         CodeInvalidImage,
	"padded-after-end.webp":        CodeInvalidImage,
	"polyglot-html.png":            CodeInvalidImage,
	"gif-frame-outside-screen.gif": CodeInvalidImage,
	"scanbomb-4096x4096.jpg":       CodeInvalidImage,
	"zero-size.gif":                CodeInvalidImage,
	"empty.bin":                    CodeInvalidImage,

	"bomb-100000x100000.png":     CodeTooManyPixels,
	"bomb-65535x65535.jpg":       CodeTooManyPixels,
	"bomb-65535x65535.gif":       CodeTooManyPixels,
	"bomb-vp8x-40000x40000.webp": CodeTooManyPixels,
	"bomb-vp8l-16384x16384.webp": CodeTooManyPixels,

	"badmagic.png":  CodeUnsupportedFormat,
	"random-1k.bin": CodeUnsupportedFormat,
	"sample.bmp":    CodeUnsupportedFormat,
	"sample.tiff":   CodeUnsupportedFormat,
}

// Every file in testdata/ gets its right answer from a relay with default
// flags, and a subscriber receives exactly the accepted ones, unchanged.
func TestTestdataAnswersDefaultFlags(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("..", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.IsDir() || e.Name() == "README.md" {
			continue
		}
		if _, ok := testdataAnswers[e.Name()]; !ok {
			t.Errorf("testdata/%s has no expected answer in testdataAnswers", e.Name())
		}
		files = append(files, e.Name())
	}
	_, u := startServer(t, Config{})
	pub := dial(t, u, "testdata", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	sub := dial(t, u, "testdata", dialOpt{query: "client=sub"})
	sub.expect(TypeHello)
	pub.expect(TypePresence)
	for i, name := range files {
		want := testdataAnswers[name]
		t.Run(name, func(t *testing.T) {
			b := readTestdata(t, name)
			m, _ := answerTime(pub, b)
			if num(m.ev, "seq") != i+1 {
				t.Fatalf("got %s, want the answer to seq %d", m.data, i+1)
			}
			got := m.typ
			if m.typ == TypeError {
				got = str(m.ev, "code")
			}
			if got != want {
				t.Fatalf("got %s, want %s", m.data, want)
			}
			if want != "ack" {
				return
			}
			if _, img := sub.nextFrame(20 * time.Second); !bytes.Equal(img, b) {
				t.Fatalf("the subscriber got %d bytes, want the %d sent", len(img), len(b))
			}
		})
	}
}

// Bytes that pass through a rendition or the normalising ingest leave
// without what followed their end marker: a PNG+HTML polyglot (accepted
// under --verify header) comes out as the bare PNG.
func TestPassthroughStripsPolyglot(t *testing.T) {
	poly := readTestdata(t, "polyglot-html.png")
	clean := readTestdata(t, "canvas-opaque-64x48.png")
	if !bytes.HasPrefix(poly, clean) || !bytes.Contains(poly, []byte("<html>")) {
		t.Fatal("polyglot-html.png is not canvas-opaque-64x48.png followed by HTML")
	}
	t.Run("rendition", func(t *testing.T) {
		_, u := startServer(t, Config{Verify: VerifyHeader})
		pub := dial(t, u, "poly", dialOpt{query: "client=pub"})
		pub.expect(TypeHello)
		rend := dial(t, u, "poly", dialOpt{query: "client=rend&format=original&max_width=1000"})
		rend.expect(TypeHello)
		pub.expect(TypePresence)
		if m, _ := answerTime(pub, poly); m.typ != TypeAck {
			t.Fatalf("got %s, want ack under --verify header", m.data)
		}
		ev, b := rend.nextFrame(20 * time.Second)
		if !bytes.Equal(b, clean) || num(ev.ev, "bytes") != len(clean) {
			t.Fatalf("rendition: got %d bytes (event %s), want the %d of the bare PNG", len(b), ev.data, len(clean))
		}
	})
	t.Run("normalize", func(t *testing.T) {
		_, u := startServer(t, Config{Verify: VerifyHeader, Normalize: true, IngestOptions: imageprocOptions(0, "original")})
		pub := dial(t, u, "poly", dialOpt{query: "client=pub"})
		pub.expect(TypeHello)
		sub := dial(t, u, "poly", dialOpt{query: "client=sub"})
		sub.expect(TypeHello)
		pub.expect(TypePresence)
		m, _ := answerTime(pub, poly)
		if m.typ != TypeAck || num(m.ev, "bytes") != len(clean) {
			t.Fatalf("got %s, want an ack for the %d bytes of the bare PNG", m.data, len(clean))
		}
		if _, b := sub.nextFrame(20 * time.Second); !bytes.Equal(b, clean) {
			t.Fatalf("subscriber got %d bytes, want the %d of the bare PNG", len(b), len(clean))
		}
	})
}

// A 130 KB 16-bit interlaced 4096x4096 PNG decodes into 256 MiB (8 bytes a
// pixel, twice for the Adam7 passes), over the whole 256 MiB decode budget.
// Its cost is counted from its header, and the work is refused instead of
// taking the server past the budget: no rendition (counted over_budget),
// and too_many_pixels when every frame is normalised.
func TestDecodeMemoryAccounted(t *testing.T) {
	png16 := readTestdata(t, "png16-interlaced-4096x4096.png")
	allocated := func() uint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.TotalAlloc
	}
	t.Run("rendition", func(t *testing.T) {
		srv, u := startServer(t, Config{})
		pub := dial(t, u, "mem", dialOpt{query: "client=pub"})
		pub.expect(TypeHello)
		rend := dial(t, u, "mem", dialOpt{query: "client=rend&max_width=640"})
		rend.expect(TypeHello)
		pub.expect(TypePresence)
		before := allocated()
		if m, _ := answerTime(pub, png16); m.typ != TypeAck {
			t.Fatalf("got %s, want ack (a valid image)", m.data)
		}
		waitMetric(t, srv, `canvasrelay_reencode_errors_total{code="over_budget",kind="rendition"} 1`)
		if grew := allocated() - before; grew > 64<<20 {
			t.Errorf("the server allocated %d MiB for it, want no decode", grew>>20)
		}
		// A frame within the budget still gets its rendition.
		if m, _ := answerTime(pub, readTestdata(t, "canvas-opaque-64x48.png")); m.typ != TypeAck {
			t.Fatalf("got %s, want ack", m.data)
		}
		if ev, _ := rend.nextFrame(20 * time.Second); num(ev.ev, "seq") != 2 {
			t.Fatalf("rendition member got %s, want seq 2", ev.data)
		}
	})
	t.Run("normalize", func(t *testing.T) {
		_, u := startServer(t, Config{Normalize: true, IngestOptions: imageprocOptions(640, "auto")})
		pub := dial(t, u, "mem", dialOpt{query: "client=pub"})
		pub.expect(TypeHello)
		m, _ := answerTime(pub, png16)
		if m.typ != TypeError || str(m.ev, "code") != CodeTooManyPixels || !strings.Contains(str(m.ev, "message"), "budget") {
			t.Fatalf("got %s, want too_many_pixels naming the decode budget", m.data)
		}
	})
}

// The four frames of issue 15, sent with default flags, each get
// invalid_image: a PNG cut in the middle of its IDAT (no IEND), a PNG whose
// IDAT is not zlib, a small PNG padded with zeros after IEND to 8 MiB, and a
// GIF whose 1x1 logical screen holds a 4096x4096 frame.
func TestIssue15FramesRefusedByDefault(t *testing.T) {
	good := readTestdata(t, "canvas-opaque-64x48.png")
	idat := bytes.Index(good, []byte("IDAT"))
	idatLen := int(binary.BigEndian.Uint32(good[idat-4:]))
	cut := bytes.Clone(good[:idat+4+idatLen/2])
	notZlib := bytes.Clone(good)
	copy(notZlib[idat+4:], "not zlib at all")
	binary.BigEndian.PutUint32(notZlib[idat+4+idatLen:], crc32.ChecksumIEEE(notZlib[idat:idat+4+idatLen]))
	padded := append(bytes.Clone(good), make([]byte, 8<<20-len(good))...)
	gif := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff")
	gif = append(gif, 0x2c, 0, 0, 0, 0, 0x00, 0x10, 0x00, 0x10, 0) // 4096x4096 at (0,0)
	gif = append(gif, 2, 2, 0x4c, 0x01, 0, 0x3b)

	_, u := startServer(t, Config{})
	pub := dial(t, u, "issue15", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	for i, tc := range []struct {
		name string
		b    []byte
		word string
	}{
		{"truncated IDAT", cut, "past the end"},
		{"IDAT not zlib", notZlib, "not zlib"},
		{"8 MiB of padding", padded, "after IEND"},
		{"frame outside the screen", gif, "outside"},
	} {
		m, _ := answerTime(pub, tc.b)
		if m.typ != TypeError || str(m.ev, "code") != CodeInvalidImage || num(m.ev, "seq") != i+1 || !strings.Contains(str(m.ev, "message"), tc.word) {
			t.Errorf("%s: got %s, want invalid_image with seq %d naming %q", tc.name, m.data, i+1, tc.word)
		}
	}
}
