package natsbroker

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"github.com/lxzan/gws"
)

// A late joiner on another node to a room holding nine layers of nearly
// 8 MiB each (more than a subscriber's 64 MiB frame queue) gets them all,
// read from the layer stream and written one at a time, and stays a
// member.
func TestLateJoinerAcrossNodesGetsNineBigLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 150 MiB through NATS and two relays")
	}
	const n, maxBytes = 9, 8 << 20
	ns := startNATS(t, 0)
	big := func(c *Config) {
		c.MaxBytes = maxBytes
		// 8 MiB JetStream publishes and reads on a loaded CI machine under
		// -race may take seconds; this test is about getting every layer,
		// not about the default timeout.
		c.RequestTimeout = 20 * time.Second
	}
	a := startNode(t, ns, "a", big)
	b := startNode(t, ns, "b", big)

	small := noisePNG(t, 64, 1)
	imgs := make([][]byte, n)
	for i := range n {
		img, err := testimg.PadPNG(small, maxBytes-1024, byte('a'+i))
		if err != nil {
			t.Fatal(err)
		}
		imgs[i] = img
		p := dial(t, a, "big", fmt.Sprintf("p%d", i))
		if err := p.ws.WriteMessage(gws.OpcodeBinary, imgs[i]); err != nil {
			t.Fatal(err)
		}
		for m := p.next(30 * time.Second); m.typ != "ack"; m = p.next(30 * time.Second) {
			if m.typ == "error" {
				t.Fatalf("publisher %d: got %s", i, m.data)
			}
		}
		p.close()
	}

	j := dial(t, b, "big", "joiner")
	got := map[string][]byte{}
	for len(got) < n {
		var m tmsg
		select {
		case m = <-j.msgs:
		case <-j.closed:
			t.Fatalf("joiner closed after %d layers, want %d", len(got), n)
		case <-time.After(30 * time.Second):
			t.Fatalf("joiner got %d layers in 30 s, want %d", len(got), n)
		}
		if m.typ != "frame" {
			continue
		}
		img := j.next(30 * time.Second)
		if img.op != gws.OpcodeBinary {
			t.Fatalf("after a frame event: got %s", describe(img))
		}
		got[str(m.ev, "client")] = img.data
	}
	for i, img := range imgs {
		if !bytes.Equal(got[fmt.Sprintf("p%d", i)], img) {
			t.Errorf("layer p%d: got %d bytes, want the %d published", i, len(got[fmt.Sprintf("p%d", i)]), len(img))
		}
	}
	q := dial(t, a, "big", "talker")
	q.sendChat("still there?")
	if m := j.expect("chat"); str(m.ev, "text") != "still there?" {
		t.Fatalf("joiner got chat %q", str(m.ev, "text"))
	}
}
