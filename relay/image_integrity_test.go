package relay

import (
	"strings"
	"testing"
	"time"
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
	// The fastest of a few answers: a loaded machine may delay any one of
	// them, but not all.
	best := time.Hour
	for i := 1; i <= 5; i++ {
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
