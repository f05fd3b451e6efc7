package natsbroker

import (
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// The NATS broker keeps no layer log of patches yet, so a relay on it
// refuses every patch with patches_unsupported and its seq, and fans
// nothing out to either node: a late joiner on another node could not
// rebuild the picture. Full frames still cross nodes.
func TestPatchesRefusedAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, ns, "a")
	b := startNode(t, ns, "b")
	if _, ok := any(a.b).(relay.LayerLog); ok {
		t.Fatal("the NATS broker keeps a layer log now: test patches across nodes instead")
	}
	pub := dial(t, a, "pat", "pub")
	local := dial(t, a, "pat", "local")
	remote := dial(t, b, "pat", "remote")
	waitFor(t, 10*time.Second, "three members", func() bool { return a.count("pat") == 3 && b.count("pat") == 3 })
	for _, c := range []*tclient{pub, local, remote} { // hello and presence
		for quiet := false; !quiet; {
			select {
			case <-c.msgs:
			case <-time.After(300 * time.Millisecond):
				quiet = true
			}
		}
	}
	full := noisePNG(t, 32, 1)
	pub.sendFrame(full)
	local.expectFrame("pub", full)
	remote.expectFrame("pub", full)

	pub.sendChat(`{"type":"patch","x":0,"y":0}`)
	if err := pub.ws.WriteMessage(2, noisePNG(t, 4, 2)); err != nil {
		t.Fatal(err)
	}
	m := pub.expect("error")
	if str(m.ev, "code") != relay.CodePatchesUnsupported || num(m.ev, "seq") != 2 {
		t.Fatalf("patch on a NATS relay: got %s, want patches_unsupported with seq 2", m.data)
	}
	local.expectNothing(300 * time.Millisecond)
	remote.expectNothing(300 * time.Millisecond)
}
