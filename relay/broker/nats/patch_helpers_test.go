package natsbroker

import (
	"fmt"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"github.com/lxzan/gws"
)

// Patch-frame helpers of the cluster tests; the pictures are
// internal/testimg's, shared with the relay's single-node tests.

var (
	encodePNG = testimg.MustEncodePNG
	decodePNG = testimg.MustDecodePNG
)

// sendPatch sends a patch command and its image.
func (c *tclient) sendPatch(x, y int, img []byte) {
	c.t.Helper()
	c.sendChat(fmt.Sprintf(`{"type":"patch","x":%d,"y":%d}`, x, y))
	if err := c.ws.WriteMessage(gws.OpcodeBinary, img); err != nil {
		c.t.Fatalf("client %s: send patch: %v", c.name, err)
	}
}

// sendBinary sends an image without waiting for its answer.
func (c *tclient) sendBinary(img []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(gws.OpcodeBinary, img); err != nil {
		c.t.Fatalf("client %s: send: %v", c.name, err)
	}
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
			c.t.Fatalf("client %s: got %s, want an ack or error", c.name, describe(m))
		case m.typ == "frame":
			c.next(20 * time.Second)
		case m.typ == "keyframe":
			if keyframes != nil {
				*keyframes++
			}
		case m.typ == "ack" || m.typ == "error":
			return m
		}
	}
}

// expectAck checks that the next answer is the ack of seq.
func (c *tclient) expectAck(seq int) {
	c.t.Helper()
	if m := c.answer(nil); m.typ != "ack" || num(m.ev, "seq") != seq {
		c.t.Fatalf("client %s: got %s, want the ack of seq %d", c.name, m.data, seq)
	}
}

// expectRefused checks that the next answer is an error with code and seq.
func (c *tclient) expectRefused(code string, seq int) tmsg {
	c.t.Helper()
	m := c.answer(nil)
	if m.typ != "error" || str(m.ev, "code") != code || num(m.ev, "seq") != seq {
		c.t.Fatalf("client %s: got %s, want an error %q with seq %d", c.name, m.data, code, seq)
	}
	return m
}

// nextFrame reads the next frame event (skipping presence) and its image.
func (c *tclient) nextFrame() (map[string]any, []byte) {
	c.t.Helper()
	ev := c.expect("frame").ev
	img := c.next(20 * time.Second)
	if img.op != gws.OpcodeBinary {
		c.t.Fatalf("client %s: got %s after a frame event, want the image", c.name, describe(img))
	}
	return ev, img.data
}

// apply draws a received frame onto pic.
func apply(t testing.TB, pic *testimg.Picture, ev map[string]any, data []byte) {
	t.Helper()
	patch, _ := ev["patch"].(bool)
	if err := pic.Apply(patch, num(ev, "x"), num(ev, "y"), data); err != nil {
		t.Fatalf("frame %v: %v", ev, err)
	}
}

// quiet drops what c has received until nothing comes for 300 ms.
func quiet(cs ...*tclient) {
	for _, c := range cs {
		for {
			select {
			case <-c.msgs:
				continue
			case <-time.After(300 * time.Millisecond):
			}
			break
		}
	}
}

// expectNoFrame checks that no frame arrives within d (presence may).
func (c *tclient) expectNoFrame(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-c.msgs:
			if m.typ != "presence" {
				c.t.Fatalf("client %s: got %s, want no frame", c.name, describe(m))
			}
		case <-deadline:
			return
		}
	}
}
