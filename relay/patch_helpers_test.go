package relay

import (
	"fmt"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"github.com/lxzan/gws"
)

// The pictures are internal/testimg's, shared with the NATS broker's tests.
var (
	noise      = testimg.Noise
	solid      = testimg.Solid
	drawPatch  = testimg.DrawPatch
	samePixels = testimg.SamePixels
)

var (
	encodePNG = testimg.MustEncodePNG
	decodePNG = testimg.MustDecodePNG
)

func (c *tclient) sendPatch(x, y int, img []byte) {
	c.t.Helper()
	c.sendText(fmt.Sprintf(`{"type":"patch","x":%d,"y":%d}`, x, y))
	c.sendBinary(img)
}

// answer returns the next ack or error event, skipping frames (with their
// images), presence and keyframe events; keyframes counts the keyframe
// events it skipped.
func (c *tclient) answer(keyframes *int) tmsg {
	c.t.Helper()
	for {
		m := c.next(20 * time.Second)
		switch {
		case m.op != gws.OpcodeText:
			c.t.Fatalf("got %s, want an ack or error", describe(m))
		case m.typ == TypeFrame:
			c.next(20 * time.Second)
		case m.typ == TypeKeyframe:
			if keyframes != nil {
				*keyframes++
			}
		case m.typ == TypeAck || m.typ == TypeError:
			return m
		}
	}
}

// expectAck checks that the next answer is the ack of seq.
func (c *tclient) expectAck(seq int) {
	c.t.Helper()
	m := c.answer(nil)
	if m.typ != TypeAck || num(m.ev, "seq") != seq {
		c.t.Fatalf("got %s, want the ack of seq %d", m.data, seq)
	}
}

// expectRefused checks that the next answer is an error with code and seq.
func (c *tclient) expectRefused(code string, seq int) tmsg {
	c.t.Helper()
	m := c.answer(nil)
	if m.typ != TypeError || str(m.ev, "code") != code || num(m.ev, "seq") != seq {
		c.t.Fatalf("got %s, want an error %q with seq %d", m.data, code, seq)
	}
	return m
}

// picture keeps a subscriber's view of one sender (testimg.Picture).
type picture struct {
	t testing.TB
	testimg.Picture
}

// apply draws a received frame (its event and image) onto the picture.
func (p *picture) apply(ev map[string]any, data []byte) {
	p.t.Helper()
	patch, _ := ev["patch"].(bool)
	if err := p.Apply(patch, num(ev, "x"), num(ev, "y"), data); err != nil {
		p.t.Fatalf("frame %v: %v", ev, err)
	}
}

// padTo grows a PNG to n bytes with a private chunk.
func padTo(t testing.TB, png []byte, n int) []byte {
	t.Helper()
	b, err := testimg.PadPNG(png, n, 'p')
	if err != nil {
		t.Fatalf("pad png: %v", err)
	}
	return b
}
