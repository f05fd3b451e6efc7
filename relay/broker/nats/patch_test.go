package natsbroker

import (
	"bytes"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Patch frames across two NATS nodes (DESIGN.md v1.1, "Patch frames"): the
// layer log lives in the stream, so its checks hold on every node, late
// joiners on any node get it, and every node composes full frames from it.
// The single-node versions are in relay/patch_test.go.

// A patch before any full frame, and one out of bounds, each get
// bad_request with the binary frame's seq, and nothing fans out to either
// node. The checks hold across nodes: a second connection of the sender's
// client id, on the other node, is checked against the full frame the first
// one sent.
func TestPatchValidationAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub := dial(t, a, "pv", "pub")
	local := dialWith(t, a, "pv", "local", dialOpts{query: "patches=1"})
	remote := dialWith(t, b, "pv", "remote", dialOpts{query: "patches=1"})
	waitFor(t, 10*time.Second, "three members", func() bool { return a.count("pv") == 3 && b.count("pv") == 3 })
	quiet(pub, local, remote)

	patch := encodePNG(t, testimg.Noise(8, 6, 1, true))
	pub.sendPatch(0, 0, patch)
	t.Logf("patch before a full frame: %s", pub.expectRefused(relay.CodeBadRequest, 1).data)

	full := encodePNG(t, testimg.Noise(64, 48, 2, true))
	pub.sendFrame(full)
	local.expectFrame("pub", full)
	remote.expectFrame("pub", full)

	for i, pos := range [][2]int{{57, 0}, {0, 43}, {64, 48}} {
		pub.sendPatch(pos[0], pos[1], patch)
		t.Logf("8x6 patch at %v: %s", pos, pub.expectRefused(relay.CodeBadRequest, 3+i).data)
	}
	local.expectNothing(300 * time.Millisecond)
	remote.expectNothing(0)

	// The sender's second connection, on node b, with the same client id.
	twin := dialAs(t, b, "pv", "pub", str(pub.hello, "resume"))
	if got := str(twin.hello, "client"); got != "pub" {
		t.Fatalf("second connection: got client %q, want pub", got)
	}
	waitFor(t, 10*time.Second, "four members", func() bool { return a.count("pv") == 4 && b.count("pv") == 4 })
	quiet(pub, local, remote, twin)
	twin.sendPatch(60, 0, patch)
	t.Logf("out of bounds from node b: %s", twin.expectRefused(relay.CodeBadRequest, 1).data)
	local.expectNothing(300 * time.Millisecond)
	remote.expectNothing(0)

	twin.sendPatch(56, 42, patch)
	twin.expectAck(2)
	pub.sendPatch(1, 2, patch)
	pub.expectAck(6)
	for _, c := range []*tclient{local, remote} {
		ev, img := c.nextFrame()
		if ev["patch"] != true || num(ev, "x") != 56 || num(ev, "y") != 42 || num(ev, "width") != 8 || num(ev, "height") != 6 ||
			num(ev, "seq") != 2 || !bytes.Equal(img, patch) {
			t.Fatalf("%s: got %v, want the patch at (56, 42), seq 2", c.name, ev)
		}
		if ev, _ := c.nextFrame(); ev["patch"] != true || num(ev, "x") != 1 || num(ev, "seq") != 6 {
			t.Fatalf("%s: got %v, want the patch at (1, 2), seq 6", c.name, ev)
		}
	}
}

// A late joiner on the other node gets the sender's whole log: its full
// frame, then every patch, in order, and draws the sender's layer; a newer
// full frame starts a new log, which the next joiner gets alone.
func TestPatchLateJoinerAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	other := dial(t, a, "pl", "other")
	otherFull := encodePNG(t, testimg.Noise(20, 10, 9, false))
	other.sendFrame(otherFull)
	pub := dial(t, a, "pl", "pub")
	want := testimg.Noise(80, 60, 4, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(1)
	var sent [][]byte
	for i := range 5 {
		p := testimg.Noise(10+i, 7, uint64(10+i), true)
		sent = append(sent, encodePNG(t, p))
		pub.sendPatch(5*i, 3*i, sent[i])
		pub.expectAck(2 + i)
		testimg.DrawPatch(want, 5*i, 3*i, p)
	}

	late := dialWith(t, b, "pl", "late", dialOpts{query: "patches=1"})
	late.expectFrame("other", otherFull) // the least recently updated log first
	var pic testimg.Picture
	ev, img := late.nextFrame()
	if str(ev, "client") != "pub" || ev["patch"] != nil || num(ev, "seq") != 1 {
		t.Fatalf("got %v, want pub's full frame (seq 1)", ev)
	}
	apply(t, &pic, ev, img)
	for i := range sent {
		ev, img := late.nextFrame()
		if ev["patch"] != true || num(ev, "seq") != 2+i || num(ev, "x") != 5*i || num(ev, "y") != 3*i || !bytes.Equal(img, sent[i]) {
			t.Fatalf("log entry %d: got %v, want patch seq %d at (%d, %d)", i+1, ev, 2+i, 5*i, 3*i)
		}
		apply(t, &pic, ev, img)
	}
	if err := testimg.SamePixels(pic.Img, want); err != nil {
		t.Fatalf("late joiner's picture: %v", err)
	}
	late.expectNothing(300 * time.Millisecond)

	full2 := encodePNG(t, testimg.Noise(80, 60, 5, true))
	pub.sendBinary(full2)
	pub.expectAck(7)
	late2 := dialWith(t, b, "pl", "late2", dialOpts{query: "patches=1"})
	late2.expectFrame("other", otherFull)
	if ev, img := late2.nextFrame(); num(ev, "seq") != 7 || !bytes.Equal(img, full2) {
		t.Fatalf("got %v, want pub's new full frame alone", ev)
	}
	late2.expectNothing(300 * time.Millisecond)
}

// keyframe, then keyframe_needed, by bytes: the stream's log counts the
// patches of both connections of one client id, on two nodes.
func TestPatchKeyframeAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub := dial(t, a, "pk", "pub")
	twin := dialAs(t, b, "pk", "pub", str(pub.hello, "resume"))
	pub.sendBinary(encodePNG(t, testimg.Noise(64, 48, 6, false))) // far under 64 KiB: the bound is 64 KiB
	pub.expectAck(1)
	patch, err := testimg.PadPNG(encodePNG(t, testimg.Noise(8, 8, 7, false)), 20<<10, 'p')
	if err != nil {
		t.Fatal(err)
	}
	const bound = wire.KeyframeMinBytes
	// Two patches from the twin on node b, then pub's on node a: the
	// fourth crosses 64 KiB, and pub is asked for a keyframe.
	twin.sendPatch(1, 1, patch)
	twin.expectAck(1)
	twin.sendPatch(1, 1, patch)
	twin.expectAck(2)
	keyframes, sum, seq := 0, 2*len(patch), 1
	for sum < 2*bound {
		seq++
		pub.sendPatch(1, 1, patch)
		if m := pub.answer(&keyframes); m.typ != "ack" || num(m.ev, "seq") != seq {
			t.Fatalf("patch with %d bytes of patches before it: got %s, want the ack of seq %d", sum, m.data, seq)
		}
		sum += len(patch)
		if sum < bound && keyframes > 0 {
			t.Fatalf("keyframe asked for at %d bytes of patches, under %d", sum, bound)
		}
	}
	seq++
	pub.sendPatch(1, 1, patch)
	m := pub.answer(&keyframes)
	if keyframes != 1 {
		t.Fatalf("got %d keyframe events, want 1", keyframes)
	}
	if m.typ != "error" || str(m.ev, "code") != relay.CodeKeyframeNeeded || num(m.ev, "seq") != seq {
		t.Fatalf("patch at %d bytes of patches: got %s, want keyframe_needed with seq %d", sum, m.data, seq)
	}
	twin.sendPatch(1, 1, patch)
	twin.expectRefused(relay.CodeKeyframeNeeded, 3)
	twin.sendBinary(encodePNG(t, testimg.Noise(64, 48, 8, false)))
	twin.expectAck(4)
	seq++
	pub.sendPatch(1, 1, patch)
	pub.expectAck(seq)
}

// The count bound (wire.MaxLogPatches) holds in the stream too: a log of
// tiny patches asks for a keyframe at wire.KeyframePatches and refuses
// patches from wire.MaxLogPatches, and the stream keeps the whole log (its
// MaxMsgsPerSubject never drops the full frame): a late joiner on the other
// node gets every entry.
func TestPatchCountBoundAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub := dial(t, a, "pcb", "pub")
	want := testimg.Noise(16, 16, 1, false)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(1)
	tiny := testimg.Noise(1, 1, 2, false)
	tinyPNG := encodePNG(t, tiny)
	keyframes := 0
	for i := 1; i <= wire.MaxLogPatches; i++ {
		pub.sendPatch(i%16, i/16%16, tinyPNG)
		if m := pub.answer(&keyframes); m.typ != "ack" || num(m.ev, "seq") != i+1 {
			t.Fatalf("patch %d: got %s, want its ack", i, m.data)
		}
		if i < wire.KeyframePatches && keyframes > 0 {
			t.Fatalf("keyframe asked for after %d patches, under %d", i, wire.KeyframePatches)
		}
		testimg.DrawPatch(want, i%16, i/16%16, tiny)
	}
	pub.sendPatch(0, 0, tinyPNG)
	if m := pub.answer(&keyframes); keyframes != 1 || m.typ != "error" || str(m.ev, "code") != relay.CodeKeyframeNeeded {
		t.Fatalf("patch %d: got %s after %d keyframe events, want keyframe_needed after 1", wire.MaxLogPatches+1, m.data, keyframes)
	}
	late := dialWith(t, b, "pcb", "late", dialOpts{query: "patches=1", buffer: 4 * wire.MaxLogPatches})
	var pic testimg.Picture
	for i := 0; i <= wire.MaxLogPatches; i++ {
		ev, img := late.nextFrame()
		if num(ev, "seq") != i+1 {
			t.Fatalf("log entry %d: got %v, want seq %d", i, ev, i+1)
		}
		apply(t, &pic, ev, img)
	}
	if err := testimg.SamePixels(pic.Img, want); err != nil {
		t.Fatalf("late joiner's picture: %v", err)
	}
}
