package relay

import (
	"bytes"
	"context"
	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// DESIGN.md v1.1, Patch frames: a patch before any full frame, one out of
// bounds, and a malformed command each get bad_request with the binary
// frame's seq, and nothing fans out; a valid patch is acked and reaches a
// patches=1 subscriber with patch, x, y, width and height.
func TestPatchValidation(t *testing.T) {
	srv, u := startServer(t, Config{})
	pub := dial(t, u, "pv", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	sub := dial(t, u, "pv", dialOpt{query: "client=sub&patches=1"})
	sub.expect(TypeHello)
	pub.expect(TypePresence)

	patch := encodePNG(t, noise(8, 6, 1, true))
	pub.sendPatch(0, 0, patch)
	m := pub.expectRefused(CodeBadRequest, 1)
	t.Logf("patch before a full frame: %s", m.data)

	full0 := encodePNG(t, noise(64, 48, 2, true))
	pub.sendBinary(full0)
	pub.expectAck(2)
	if ev, img := sub.nextFrame(20 * time.Second); !bytes.Equal(img, full0) || ev.ev["patch"] != nil {
		t.Fatalf("full frame: got event %s and %d bytes, want no patch field and the full frame", ev.data, len(img))
	}

	for i, pos := range [][2]int{{57, 0}, {0, 43}, {64, 48}, {1 << 20, 0}} {
		pub.sendPatch(pos[0], pos[1], patch)
		m := pub.expectRefused(CodeBadRequest, 3+i)
		t.Logf("8x6 patch at %v: %s", pos, m.data)
	}
	for i, cmd := range []string{
		`{"type":"patch","x":-1,"y":0}`, `{"type":"patch","x":1.5,"y":0}`, `{"type":"patch","y":0}`, `{"type":"patch","x":"1","y":0}`,
	} {
		pub.sendText(cmd)
		pub.sendBinary(patch)
		m := pub.answer(nil)
		if str(m.ev, "code") != CodeBadRequest {
			t.Fatalf("%s: got %s, want bad_request", cmd, m.data)
		}
		if m.ev["seq"] == nil { // a command JSON cannot parse is answered on its own first
			m = pub.expectRefused(CodeBadRequest, 7+i)
		} else if num(m.ev, "seq") != 7+i {
			t.Fatalf("%s: got %s, want bad_request with seq %d", cmd, m.data, 7+i)
		}
	}
	sub.expectNothing(300 * time.Millisecond) // no refused patch fanned out, and no full frame either

	pub.sendPatch(56, 42, patch)
	pub.expectAck(11)
	ev, img := sub.nextFrame(20 * time.Second)
	if ev.ev["patch"] != true || num(ev.ev, "x") != 56 || num(ev.ev, "y") != 42 || num(ev.ev, "width") != 8 ||
		num(ev.ev, "height") != 6 || num(ev.ev, "seq") != 11 || str(ev.ev, "client") != "pub" || !bytes.Equal(img, patch) {
		t.Fatalf("patch: got event %s and %d bytes, want patch true at (56, 42), 8x6, seq 11, and the patch's bytes", ev.data, len(img))
	}
	pub.sendPatch(0, 0, patch) // x and y of 0 are still sent
	pub.expectAck(12)
	if ev, _ := sub.nextFrame(20 * time.Second); ev.ev["x"] == nil || ev.ev["y"] == nil {
		t.Fatalf("patch at (0, 0): got %s, want x and y present", ev.data)
	}
	// Two patches of 8x6 written, each instead of the 64x48 full frame.
	// The writer counts a write once it returns, which may be just after the
	// subscriber has read it.
	m2 := srv.metrics
	var sent, full float64
	waitFor(t, 10*time.Second, func() bool {
		sent, full = testutil.ToFloat64(m2.patchBytesSent), testutil.ToFloat64(m2.patchFullBytes)
		return sent >= float64(2*len(patch))
	}, "both patches counted as written")
	if n := testutil.ToFloat64(m2.patchesIn); n != 2 || sent < float64(2*len(patch)) || full < 2*float64(len(full0)) || full <= sent {
		t.Fatalf("metrics: %v patches accepted, %v bytes sent as patches, %v as full frames; want 2, at least %d, at least %d and more than sent",
			n, sent, full, 2*len(patch), 2*len(full0))
	}
}

// A patch command not followed by a binary frame before the next text
// frame is bad_request; the text frame is then handled as usual, and the
// next binary frame is a full frame again.
func TestPatchCommandNotFollowed(t *testing.T) {
	_, u := startServer(t, Config{})
	pub := dial(t, u, "pn", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	sub := dial(t, u, "pn", dialOpt{query: "client=sub"})
	sub.expect(TypeHello)
	pub.expect(TypePresence)

	pub.sendText(`{"type":"patch","x":0,"y":0}`)
	pub.sendText("hello there")
	m := pub.expect(TypeError)
	if str(m.ev, "code") != CodeBadRequest || m.ev["seq"] != nil {
		t.Fatalf("got %s, want bad_request with no seq", m.data)
	}
	if chat := sub.expect(TypeChat); str(chat.ev, "text") != "hello there" {
		t.Fatalf("got %s, want the chat line", chat.data)
	}
	full := encodePNG(t, noise(16, 16, 3, false))
	pub.sendBinary(full)
	pub.expectAck(1)
	if ev, img := sub.nextFrame(20 * time.Second); ev.ev["patch"] != nil || !bytes.Equal(img, full) {
		t.Fatalf("got %s, want the full frame", ev.data)
	}
}

// A late joiner gets the sender's whole layer log: the full frame, then
// every patch, in order; a newer full frame starts a new log.
func TestPatchLateJoinerGetsTheLog(t *testing.T) {
	_, u := startServer(t, Config{})
	pub := dial(t, u, "pl", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	other := dial(t, u, "pl", dialOpt{query: "client=other"})
	other.expect(TypeHello)
	otherFull := encodePNG(t, noise(20, 10, 9, false))
	other.sendBinary(otherFull)
	other.expectAck(1)

	want := noise(80, 60, 4, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(1)
	var sent [][]byte
	for i := range 5 {
		p := noise(10+i, 7, uint64(10+i), true)
		b := encodePNG(t, p)
		sent = append(sent, b)
		x, y := 5*i, 3*i
		pub.sendPatch(x, y, b)
		pub.expectAck(2 + i)
		drawPatch(want, x, y, p)
	}

	late := dial(t, u, "pl", dialOpt{query: "client=late&patches=1"})
	late.expect(TypeHello)
	if ev, img := late.nextFrame(20 * time.Second); str(ev.ev, "client") != "other" || !bytes.Equal(img, otherFull) {
		t.Fatalf("first layer: got %s, want other's full frame (the least recently updated log first)", ev.data)
	}
	pic := picture{t: t}
	ev, img := late.nextFrame(20 * time.Second)
	if str(ev.ev, "client") != "pub" || ev.ev["patch"] != nil || num(ev.ev, "seq") != 1 {
		t.Fatalf("got %s, want pub's full frame (seq 1)", ev.data)
	}
	pic.apply(ev.ev, img)
	for i := range sent {
		ev, img := late.nextFrame(20 * time.Second)
		if ev.ev["patch"] != true || num(ev.ev, "seq") != 2+i || num(ev.ev, "x") != 5*i || num(ev.ev, "y") != 3*i || !bytes.Equal(img, sent[i]) {
			t.Fatalf("log entry %d: got %s, want patch seq %d at (%d, %d)", i+1, ev.data, 2+i, 5*i, 3*i)
		}
		pic.apply(ev.ev, img)
	}
	if err := samePixels(pic.Img, want); err != nil {
		t.Fatalf("late joiner's picture: %v", err)
	}
	late.expectNothing(300 * time.Millisecond)

	// A full frame replaces the log: the next joiner gets it alone.
	full2 := encodePNG(t, noise(80, 60, 5, true))
	pub.sendBinary(full2)
	pub.expectAck(7)
	late2 := dial(t, u, "pl", dialOpt{query: "client=late2&patches=1"})
	late2.expect(TypeHello)
	late2.nextFrame(20 * time.Second) // other's
	if ev, img := late2.nextFrame(20 * time.Second); num(ev.ev, "seq") != 7 || !bytes.Equal(img, full2) {
		t.Fatalf("got %s, want pub's new full frame alone", ev.data)
	}
	late2.expectNothing(300 * time.Millisecond)
}

// keyframe, then keyframe_needed: once the log's patches reach the bytes
// of its full frame (at least 64 KiB) the sender is asked for a full frame,
// and from twice that its patches are refused until a full frame comes.
func TestPatchKeyframeThenKeyframeNeeded(t *testing.T) {
	_, u := startServer(t, Config{})
	pub := dial(t, u, "pk", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	pub.sendBinary(encodePNG(t, noise(64, 48, 6, false))) // far under 64 KiB: the bound is 64 KiB
	pub.expectAck(1)
	patch := paddedPatch(t, 20<<10)
	const bound = 64 << 10
	var keyframes, sum, seq int
	for sum < 2*bound {
		seq++
		pub.sendPatch(1, 1, patch)
		m := pub.answer(&keyframes)
		if m.typ != TypeAck || num(m.ev, "seq") != seq+1 {
			t.Fatalf("patch %d with %d bytes of patches before it: got %s, want its ack", seq, sum, m.data)
		}
		sum += len(patch)
		if sum < bound && keyframes > 0 {
			t.Fatalf("keyframe asked for at %d bytes of patches, under %d", sum, bound)
		}
	}
	// The keyframe event may follow the ack that crossed the bound.
	pub.sendPatch(1, 1, patch)
	m := pub.answer(&keyframes)
	if keyframes != 1 {
		t.Fatalf("got %d keyframe events, want 1", keyframes)
	}
	if m.typ != TypeError || str(m.ev, "code") != CodeKeyframeNeeded || num(m.ev, "seq") != seq+2 {
		t.Fatalf("patch at %d bytes of patches: got %s, want keyframe_needed with seq %d", sum, m.data, seq+2)
	}
	pub.sendBinary(encodePNG(t, noise(64, 48, 7, false)))
	pub.expectAck(seq + 3)
	pub.sendPatch(1, 1, patch)
	pub.expectAck(seq + 4)
}

// paddedPatch is an 8×8 PNG grown to n bytes by a private chunk.
func paddedPatch(t testing.TB, n int) []byte {
	t.Helper()
	b := encodePNG(t, solid(8, 8, color.NRGBA{200, 10, 10, 255}))
	return padTo(t, b, n)
}

// Subscribers without patches=1, and rendition subscribers, get full
// frames composed from the log, identical to the sender's layer pixel for
// pixel when the output is PNG (auto: the layer has transparent pixels),
// composed once per patch and output whatever the number of subscribers;
// an opaque layer comes out as JPEG under auto. A late joiner without
// patches=1 gets the composed picture too.
func TestPatchComposedForPlainAndRenditions(t *testing.T) {
	srv, u := startServer(t, Config{})
	pub := dial(t, u, "pc", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	plain1 := dial(t, u, "pc", dialOpt{query: "client=plain1"})
	plain1.expect(TypeHello)
	plain2 := dial(t, u, "pc", dialOpt{query: "client=plain2"})
	plain2.expect(TypeHello)
	rendPNG := dial(t, u, "pc", dialOpt{query: "client=rp&format=png&patches=1"}) // a rendition never gets patches
	rendPNG.expect(TypeHello)
	small := dial(t, u, "pc", dialOpt{query: "client=small&max_width=40&format=jpeg"})
	small.expect(TypeHello)

	want := noise(120, 80, 8, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(1)
	for _, c := range []*tclient{plain1, plain2, rendPNG, small} {
		c.nextFrame(20 * time.Second)
	}
	const patches = 4
	for i := range patches {
		p := noise(30, 20, uint64(20+i), i%2 == 0)
		x, y := 20*i, 10*i
		drawPatch(want, x, y, p)
		pub.sendPatch(x, y, encodePNG(t, p))
		pub.expectAck(2 + i)
		// Waiting for each composed frame keeps latest-wins from
		// skipping any, so that every one can be checked.
		for _, c := range []*tclient{plain1, plain2, rendPNG} {
			ev, img := c.nextFrame(20 * time.Second)
			if ev.ev["patch"] != nil || str(ev.ev, "format") != "png" || num(ev.ev, "seq") != 2+i || num(ev.ev, "width") != 120 || num(ev.ev, "bytes") != len(img) {
				t.Fatalf("after patch %d: got %s, want a full 120-wide png frame with seq %d", i+1, ev.data, 2+i)
			}
			if err := samePixels(decodePNG(t, img), want); err != nil {
				t.Fatalf("after patch %d, the composed frame: %v", i+1, err)
			}
		}
		ev, img := small.nextFrame(20 * time.Second)
		if f, w, h := decodeSize(t, img); f != "jpeg" || w != 40 || h != 27 || ev.ev["patch"] != nil {
			t.Fatalf("rendition after patch %d: got %s %dx%d (%s), want a 40x27 jpeg full frame", i+1, f, w, h, ev.data)
		}
	}
	// Once per patch and output (auto, png, 40 px jpeg), not per subscriber.
	if got := testutil.ToFloat64(srv.metrics.composes); got != 3*patches {
		t.Errorf("compositions: got %v, want %d", got, 3*patches)
	}

	late := dial(t, u, "pc", dialOpt{query: "client=late"})
	late.expect(TypeHello)
	ev, img := late.nextFrame(20 * time.Second)
	if ev.ev["patch"] != nil || num(ev.ev, "seq") != 1+patches {
		t.Fatalf("late joiner: got %s, want the composed frame of the whole log", ev.data)
	}
	if err := samePixels(decodePNG(t, img), want); err != nil {
		t.Fatalf("late joiner's composed frame: %v", err)
	}

	// An opaque layer comes out as JPEG under auto.
	pub.sendBinary(encodePNG(t, noise(120, 80, 30, false)))
	pub.expectAck(2 + patches)
	plain1.nextFrame(20 * time.Second)
	pub.sendPatch(0, 0, encodePNG(t, noise(10, 10, 31, false)))
	pub.expectAck(3 + patches)
	if _, img := plain1.nextFrame(20 * time.Second); !bytesHavePrefix(img, "\xff\xd8") {
		t.Fatalf("opaque composed frame: got %q…, want a JPEG", img[:4])
	}
}

func bytesHavePrefix(b []byte, p string) bool { return bytes.HasPrefix(b, []byte(p)) }

// noLogBroker is a broker that keeps no layer log (a custom broker): it
// hides MemoryBroker's PublishPatch.
type noLogBroker struct{ Broker }

// On a broker without a layer log, patches are refused with
// patches_unsupported (and nothing fans out), since late joiners on other
// nodes could not rebuild the picture; full frames still work.
func TestPatchRefusedWithoutLayerLog(t *testing.T) {
	b := noLogBroker{NewMemoryBroker(MemoryBrokerConfig{})}
	t.Cleanup(func() { _ = b.Close() })
	if _, ok := Broker(b).(LayerLog); ok {
		t.Fatal("the test broker keeps a layer log")
	}
	_, u := startServer(t, Config{Broker: b})
	pub := dial(t, u, "nl", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	sub := dial(t, u, "nl", dialOpt{query: "client=sub&patches=1"})
	sub.expect(TypeHello)
	pub.expect(TypePresence)
	full := encodePNG(t, noise(32, 32, 1, false))
	pub.sendBinary(full)
	pub.expectAck(1)
	sub.nextFrame(20 * time.Second)
	pub.sendPatch(0, 0, encodePNG(t, noise(4, 4, 2, false)))
	pub.expectRefused(CodePatchesUnsupported, 2)
	sub.expectNothing(300 * time.Millisecond)
}

// A slow subscriber gets a consistent picture: however far behind it is,
// what it is sent is a full frame plus consecutive patches, exactly as the
// sender drew it, and it ends with the sender's layer. The subscriber stops
// reading while the sender sends full frames of 3 MB (more than the
// sockets buffer) with patches between them, so patches pile up in its
// queue and a full frame replaces them.
func TestPatchSlowSubscriberConsistent(t *testing.T) {
	srv, u := startServer(t, Config{ByteRate: -1, FrameRate: -1, WriteTimeout: time.Minute})
	pub := dial(t, u, "ps", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	slow := dial(t, u, "ps", dialOpt{query: "client=slow&patches=1", frozen: true, buffer: 1 << 14})
	pub.expect(TypePresence)
	// A subscriber that keeps up: the sender is paced to its median
	// viewer (held acks, ack.go), not to the frozen one.
	fast := dial(t, u, "ps", dialOpt{query: "client=fast&patches=1", buffer: 1 << 14})
	fast.expect(TypeHello)
	pub.expect(TypePresence)

	const w, h = 1000, 800
	want := noise(w, h, 40, true)
	seq := 0
	send := func() {
		pub.sendBinary(encodePNG(t, want))
		seq++
		pub.expectAck(seq)
	}
	send()
	for round := range 3 {
		for i := range 40 {
			p := noise(40, 30, uint64(100*round+i), true)
			x, y := (37*i)%(w-40), (23*i)%(h-30)
			drawPatch(want, x, y, p)
			pub.sendPatch(x, y, encodePNG(t, p))
			seq++
			pub.expectAck(seq)
		}
		if round < 2 {
			send() // replaces what the subscriber has pending of the sender
		}
	}
	superseded := testutil.ToFloat64(srv.metrics.dropped.WithLabelValues(dropSuperseded))
	t.Logf("superseded while the subscriber was frozen: %v", superseded)
	if superseded == 0 {
		t.Errorf("nothing was superseded: the subscriber was never behind, and the test shows nothing")
	}
	slow.unfreeze()
	slow.expect(TypeHello)
	for _, c := range []*tclient{slow, fast} {
		checkConsistent(t, c, want, seq)
	}
}

// checkConsistent reads a patches=1 subscriber's frames of one sender until
// it is quiet, checks that they are full frames and consecutive patches,
// ending with the frame of lastSeq, and that they draw want.
func checkConsistent(t *testing.T, c *tclient, want *image.NRGBA, lastSeq int) {
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
		if m.op != gws.OpcodeText || m.typ != TypeFrame {
			continue
		}
		bin := c.next(20 * time.Second)
		if err := seq.Take(m.ev["patch"] == true, num(m.ev, "seq"), num(m.ev, "x"), num(m.ev, "y"), bin.data); err != nil {
			t.Fatal(err)
		}
	}
	if seq.Seq != lastSeq || !seq.WasPatch {
		t.Fatalf("last frame: seq %d (patch %v), want the last patch, seq %d", seq.Seq, seq.WasPatch, lastSeq)
	}
	if err := samePixels(seq.Img, want); err != nil {
		t.Fatalf("the subscriber's picture: %v", err)
	}
}

var _ = context.Background

// The seed-style client: it ignores text and draws each binary frame as
// the whole picture. With patches in the room it still ends with the
// sender's layer, pixel for pixel (PNG: the layer has transparent pixels).
func TestPatchSeedStyleClientSeesThePicture(t *testing.T) {
	_, u := startServer(t, Config{})
	pub := dial(t, u, "seed", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	seed := dial(t, u, "seed", dialOpt{})
	want := noise(90, 70, 50, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(1)
	for i := range 6 {
		p := noise(20, 15, uint64(60+i), true)
		drawPatch(want, 10*i, 9*i, p)
		pub.sendPatch(10*i, 9*i, encodePNG(t, p))
		pub.expectAck(2 + i)
	}
	// Latest-wins may skip pictures, never the last one.
	var last []byte
	binaries := 0
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-seed.msgs:
			if m.op == gws.OpcodeBinary {
				binaries++
				last = m.data
			}
			if last != nil && samePixels(decodePNG(t, last), want) == nil {
				t.Logf("%d binary frames, the last one the sender's layer", binaries)
				return
			}
		case <-deadline:
			t.Fatalf("after %d binary frames, the last is not the sender's layer", binaries)
		}
	}
}

// patches takes 1 or true, 0 or false; anything else is HTTP 400.
func TestPatchesParameter(t *testing.T) {
	_, u := startServer(t, Config{})
	for _, v := range []string{"1", "true", "0", "false"} {
		dial(t, u, "pp", dialOpt{query: "patches=" + v}).expect(TypeHello)
	}
	for _, v := range []string{"yes", "2", "x"} {
		if _, resp, err := tryDial(t, u, "pp", dialOpt{query: "patches=" + v}); err == nil || resp == nil || resp.StatusCode != 400 {
			t.Errorf("patches=%s: got %v, want HTTP 400", v, err)
		}
	}
}

// A patch command does not spend the chat bucket, but a flood of patch
// commands with no binary frames is a flood of bad_request violations:
// the connection is closed with 1008, as for any other flood.
func TestPatchCommandFloodIsClosed(t *testing.T) {
	_, u := startServer(t, Config{})
	c := dial(t, u, "pf", dialOpt{query: "client=flood"})
	c.expect(TypeHello)
	for range 200 {
		if err := c.ws.WriteString(`{"type":"patch","x":0,"y":0}`); err != nil {
			break // closed already
		}
	}
	if code := c.closeCode(20 * time.Second); code != ClosePolicy {
		t.Fatalf("after 200 patch commands with no image: got close %d, want %d", code, ClosePolicy)
	}
}

// A log of many tiny patches is bounded by its count as well as its bytes:
// a 1×1 patch is far under the 64 KiB byte bound, yet the sender is asked
// for a keyframe at wire.KeyframePatches patches, and from
// wire.MaxLogPatches patches they are refused with keyframe_needed until a
// full frame comes.
func TestPatchCountBound(t *testing.T) {
	_, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	pub := dial(t, u, "pcb", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	pub.sendBinary(encodePNG(t, noise(16, 16, 1, false)))
	pub.expectAck(1)
	tiny := encodePNG(t, noise(1, 1, 2, false))
	keyframes := 0
	for i := 1; i <= wire.MaxLogPatches; i++ {
		pub.sendPatch(i%16, 0, tiny)
		m := pub.answer(&keyframes)
		if m.typ != TypeAck || num(m.ev, "seq") != i+1 {
			t.Fatalf("patch %d of %d bytes: got %s, want its ack", i, len(tiny), m.data)
		}
		if i < wire.KeyframePatches && keyframes > 0 {
			t.Fatalf("keyframe asked for after %d patches, under %d", i, wire.KeyframePatches)
		}
	}
	pub.sendPatch(0, 0, tiny)
	m := pub.answer(&keyframes)
	if keyframes != 1 {
		t.Fatalf("got %d keyframe events, want 1", keyframes)
	}
	if m.typ != TypeError || str(m.ev, "code") != CodeKeyframeNeeded {
		t.Fatalf("patch %d: got %s, want keyframe_needed", wire.MaxLogPatches+1, m.data)
	}
	pub.sendBinary(encodePNG(t, noise(16, 16, 3, false)))
	pub.expectAck(wire.MaxLogPatches + 3)
	pub.sendPatch(0, 0, tiny)
	pub.expectAck(wire.MaxLogPatches + 4)
}
