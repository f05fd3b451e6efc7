package natsbroker

import (
	"bytes"
	"image"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/wire"
	"github.com/lxzan/gws"
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

// A subscriber without patches=1, and a rendition subscriber, on the other
// node (and a plain one on the sender's) get full frames composed from the log, identical to the sender's
// layer pixel for pixel (PNG: the layer has transparent pixels). They join
// after the sender's full frame, so node b's mirror never saw it: it reads
// the log from the stream before it delivers the first patch.
func TestPatchComposedAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub := dial(t, a, "pc", "pub")
	want := testimg.Noise(120, 80, 8, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(1)

	plain := dial(t, b, "pc", "plain")
	rendPNG := dialWith(t, b, "pc", "rp", dialOpts{query: "format=png&patches=1"}) // a rendition never gets patches
	small := dialWith(t, b, "pc", "small", dialOpts{query: "max_width=40&format=jpeg"})
	plainA := dial(t, a, "pc", "plaina") // and one on the sender's node
	for _, c := range []*tclient{plain, rendPNG, small, plainA} {
		if ev, _ := c.nextFrame(); str(ev, "client") != "pub" || ev["patch"] != nil {
			t.Fatalf("%s: got %v, want pub's full frame as its layer", c.name, ev)
		}
	}
	waitFor(t, 10*time.Second, "five members", func() bool { return a.count("pc") == 5 && b.count("pc") == 5 })
	quiet(pub, plain, rendPNG, small, plainA)
	const patches = 4
	for i := range patches {
		p := testimg.Noise(30, 20, uint64(20+i), i%2 == 0)
		x, y := 20*i, 10*i
		testimg.DrawPatch(want, x, y, p)
		pub.sendPatch(x, y, encodePNG(t, p))
		pub.expectAck(2 + i)
		for _, c := range []*tclient{plain, rendPNG, plainA} {
			ev, img := c.nextFrame()
			if ev["patch"] != nil || str(ev, "format") != "png" || num(ev, "seq") != 2+i || num(ev, "width") != 120 {
				t.Fatalf("%s after patch %d: got %v, want a full 120-wide png frame with seq %d", c.name, i+1, ev, 2+i)
			}
			if err := testimg.SamePixels(decodePNG(t, img), want); err != nil {
				t.Fatalf("%s after patch %d, the composed frame: %v", c.name, i+1, err)
			}
		}
		if ev, img := small.nextFrame(); ev["patch"] != nil || num(ev, "width") != 40 || !bytes.HasPrefix(img, []byte("\xff\xd8")) {
			t.Fatalf("rendition after patch %d: got %v, want a 40-wide jpeg full frame", i+1, ev)
		}
	}
	if st := b.b.Stats(); st.SyncDrops != 0 || st.MirrorBytes <= 0 {
		t.Errorf("node b: %d patches not delivered, %d bytes mirrored; want 0 and the log", st.SyncDrops, st.MirrorBytes)
	}
	late := dial(t, b, "pc", "late")
	ev, img := late.nextFrame()
	if ev["patch"] != nil || num(ev, "seq") != 1+patches {
		t.Fatalf("late joiner: got %v, want the composed frame of the whole log", ev)
	}
	if err := testimg.SamePixels(decodePNG(t, img), want); err != nil {
		t.Fatalf("late joiner's composed frame: %v", err)
	}
}

// A slow subscriber on the other node gets a consistent picture: whatever
// it missed while it read nothing, what it is sent is a full frame plus
// consecutive patches, exactly as the sender drew it, and it ends with the
// sender's layer.
func TestPatchSlowSubscriberAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	// The frozen subscriber must still be there when it thaws: on a loaded
	// machine the publishing below takes longer than the default write
	// timeout, which would cut it off (4001) in the middle of a frame.
	longWrites := func(c *relay.Config) { c.WriteTimeout = time.Minute }
	a, b := startNodeWith(t, ns, "a", longWrites), startNodeWith(t, ns, "b", longWrites)
	pub := dial(t, a, "ps", "pub")
	slow := dialWith(t, b, "ps", "slow", dialOpts{query: "patches=1", frozen: true, buffer: 1 << 14})
	fast := dialWith(t, b, "ps", "fast", dialOpts{query: "patches=1", buffer: 1 << 14})
	waitFor(t, 10*time.Second, "three members", func() bool { return a.count("ps") == 3 && b.count("ps") == 3 })

	const w, h = 1000, 800
	want := testimg.Noise(w, h, 40, true)
	seq := 0
	full := func() {
		pub.sendBinary(encodePNG(t, want)) // about 3 MB: more than the sockets buffer
		seq++
		pub.expectAck(seq)
	}
	full()
	for round := range 3 {
		for i := range 40 {
			p := testimg.Noise(40, 30, uint64(100*round+i), true)
			x, y := (37*i)%(w-40), (23*i)%(h-30)
			testimg.DrawPatch(want, x, y, p)
			pub.sendPatch(x, y, encodePNG(t, p))
			seq++
			pub.expectAck(seq)
		}
		if round < 2 {
			full() // replaces what the subscriber has pending of the sender
		}
	}
	slow.unfreeze()
	nSlow, nFast := checkConsistent(t, slow, want, seq), checkConsistent(t, fast, want, seq)
	if nSlow >= nFast {
		t.Errorf("the slow subscriber got %d frames, the fast one %d: it was never behind, and the test shows nothing", nSlow, nFast)
	}
}

// checkConsistent reads a patches=1 subscriber's frames until it is quiet,
// checks that they are full frames and consecutive patches, ending with the
// patch of lastSeq, and that they draw want.
func checkConsistent(t *testing.T, c *tclient, want *image.NRGBA, lastSeq int) (frames int) {
	t.Helper()
	var seq testimg.Sequence
	for {
		var m tmsg
		select {
		case m = <-c.msgs:
		case <-time.After(5 * time.Second):
		}
		if m.data == nil {
			break
		}
		if m.op != gws.OpcodeText || m.typ != "frame" {
			continue
		}
		bin := c.next(20 * time.Second)
		if err := seq.Take(m.ev["patch"] == true, num(m.ev, "seq"), num(m.ev, "x"), num(m.ev, "y"), bin.data); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	if seq.Seq != lastSeq || !seq.WasPatch {
		t.Fatalf("%s: last frame seq %d (patch %v), want the last patch, seq %d", c.name, seq.Seq, seq.WasPatch, lastSeq)
	}
	if err := testimg.SamePixels(seq.Img, want); err != nil {
		t.Fatalf("%s: the picture: %v", c.name, err)
	}
	t.Logf("%s: %d frames, the last seq %d", c.name, seq.Frames, seq.Seq)
	return seq.Frames
}
