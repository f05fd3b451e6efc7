package natsbroker

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The layer log across nodes under stress: racing appends, an outage, a
// mirror over its bound, a gap, a clear, and a stream from before.

// Two connections of one client id, on two nodes, send patches at the same
// time: their appends race for the end of the one log in the stream, and
// the loser of each race reads it again and appends after. Every node's
// subscribers then get the same log, in the same order, which is the one a
// late joiner reads, and each accepted patch is in it once.
func TestPatchRaceAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub := dial(t, a, "pr", "pub")
	twin := dialAs(t, b, "pr", "pub", str(pub.hello, "resume"))
	subA := dialWith(t, a, "pr", "suba", dialOpts{query: "patches=1"})
	subB := dialWith(t, b, "pr", "subb", dialOpts{query: "patches=1"})
	waitFor(t, 10*time.Second, "four members", func() bool { return a.count("pr") == 4 && b.count("pr") == 4 })
	quiet(pub, twin, subA, subB)
	pub.sendBinary(encodePNG(t, testimg.Noise(200, 100, 1, true)))
	pub.expectAck(1)

	const n = 60
	var acked [2]int
	done := make(chan struct{})
	for k, c := range []*tclient{pub, twin} {
		go func() {
			defer func() { done <- struct{}{} }()
			first := 2 - k // pub's seq 1 was its full frame
			for i := range n {
				c.sendPatch(100*k+i%90, i%80, encodePNG(t, testimg.Noise(10, 20, uint64(1000*k+i), true)))
				m := c.answer(nil)
				switch {
				case m.typ == "ack" && num(m.ev, "seq") == first+i:
					acked[k]++
				case m.typ == "error" && str(m.ev, "code") == relay.CodeInternal && strings.Contains(str(m.ev, "message"), "at the same time"):
					t.Logf("%s: lost the race too often: %s", c.name, m.data) // allowed, never silent
				default:
					t.Errorf("%s: patch %d: got %s", c.name, i, m.data)
					return
				}
			}
		}()
	}
	<-done
	<-done
	t.Logf("accepted: %d from node a, %d from node b", acked[0], acked[1])

	// Each subscriber's log: the full frame, then (x, seq) of each patch.
	logOf := func(c *tclient, count int) ([]string, *testimg.Picture) {
		t.Helper()
		var got []string
		pic := &testimg.Picture{}
		for range count {
			ev, img := c.nextFrame()
			got = append(got, fmt.Sprintf("%v@%d,%d#%d", ev["patch"], num(ev, "x"), num(ev, "y"), num(ev, "seq")))
			apply(t, pic, ev, img)
		}
		return got, pic
	}
	total := 1 + acked[0] + acked[1]
	logA, picA := logOf(subA, total)
	logB, picB := logOf(subB, total)
	late := dialWith(t, b, "pr", "late", dialOpts{query: "patches=1"})
	logL, picL := logOf(late, total)
	for _, c := range []*tclient{subA, subB, late} {
		c.expectNoFrame(300 * time.Millisecond)
	}
	if !slices.Equal(logA, logB) || !slices.Equal(logA, logL) {
		t.Fatalf("the nodes disagree on the log:\nnode a: %v\nnode b: %v\nlate:   %v", logA, logB, logL)
	}
	for _, p := range []*testimg.Picture{picB, picL} {
		if err := testimg.SamePixels(p.Img, picA.Img); err != nil {
			t.Fatalf("pictures differ: %v", err)
		}
	}
	if acked[0] == 0 || acked[1] == 0 {
		t.Errorf("accepted %v: want patches from both nodes in the log", acked)
	}
}

// An outage never corrupts the log: while NATS is down a patch is refused
// (internal, with a message that says why) and reaches nobody, a full frame
// reaches local members only, and once NATS is back the sender's patches
// are refused (bad_request) until it sends a full frame that the stream
// keeps, since the stream's log is no longer its picture. Then patches
// flow again, and a late joiner on the other node draws the sender's layer.
func TestPatchOutageAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub := dial(t, a, "po", "pub")
	local := dialWith(t, a, "po", "local", dialOpts{query: "patches=1"})
	remote := dialWith(t, b, "po", "remote", dialOpts{query: "patches=1"})
	waitFor(t, 10*time.Second, "three members", func() bool { return a.count("po") == 3 && b.count("po") == 3 })
	quiet(pub, local, remote)
	full := encodePNG(t, testimg.Noise(50, 40, 1, true))
	pub.sendBinary(full)
	pub.expectAck(1)
	patch := encodePNG(t, testimg.Noise(5, 5, 2, true))
	pub.sendPatch(1, 1, patch)
	pub.expectAck(2)
	for _, c := range []*tclient{local, remote} {
		c.nextFrame()
		c.nextFrame()
	}

	ns.stop()
	waitFor(t, 5*time.Second, "node a unhealthy", func() bool { return a.b.Healthy() != nil })
	pub.sendPatch(2, 2, patch)
	m := pub.expectRefused(relay.CodeInternal, 3)
	t.Logf("patch during the outage: %s", m.data)
	if !strings.Contains(str(m.ev, "message"), "out of reach") {
		t.Errorf("got message %q, want one that says the log is out of reach", str(m.ev, "message"))
	}
	local.expectNoFrame(300 * time.Millisecond)
	outage := encodePNG(t, testimg.Noise(50, 40, 3, true))
	pub.sendBinary(outage)
	pub.expectAck(4)
	local.expectFrame("pub", outage)

	ns.start()
	waitFor(t, 10*time.Second, "both nodes healthy again", func() bool { return a.b.Healthy() == nil && b.b.Healthy() == nil })
	pub.sendPatch(3, 3, patch)
	t.Logf("patch after the outage, before a full frame: %s", pub.expectRefused(relay.CodeBadRequest, 5).data)
	local.expectNoFrame(300 * time.Millisecond)
	remote.expectNoFrame(0)

	want := testimg.Noise(50, 40, 4, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(6)
	p := testimg.Noise(7, 6, 5, true)
	testimg.DrawPatch(want, 4, 4, p)
	pub.sendPatch(4, 4, encodePNG(t, p))
	pub.expectAck(7)
	for _, c := range []*tclient{local, remote, dialWith(t, b, "po", "late", dialOpts{query: "patches=1"})} {
		var pic testimg.Picture
		for _, seq := range []int{6, 7} {
			ev, img := c.nextFrame()
			if num(ev, "seq") != seq {
				t.Fatalf("%s: got %v, want seq %d", c.name, ev, seq)
			}
			apply(t, &pic, ev, img)
		}
		if err := testimg.SamePixels(pic.Img, want); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}

// The mirror is bounded: with MirrorMaxBytes far under one log, node b
// forgets each log as soon as it has delivered from it, so every patch
// finds no log and is delivered only after its log was read from the
// stream. Its subscribers still get every patch, linked: composed frames
// identical to the sender's layer, and consecutive patches.
func TestPatchMirrorBoundAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a := startNode(t, ns, "a")
	b := startNode(t, ns, "b", func(c *Config) { c.MirrorMaxBytes = 1 })
	pub := dial(t, a, "pm", "pub")
	plain := dial(t, b, "pm", "plain")
	withPatches := dialWith(t, b, "pm", "wp", dialOpts{query: "patches=1"})
	waitFor(t, 10*time.Second, "three members", func() bool { return a.count("pm") == 3 && b.count("pm") == 3 })
	quiet(pub, plain, withPatches)
	want := testimg.Noise(60, 40, 1, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(1)
	plain.nextFrame()
	withPatches.nextFrame()
	for i := range 5 {
		p := testimg.Noise(9, 8, uint64(2+i), true)
		testimg.DrawPatch(want, 5*i, 4*i, p)
		pub.sendPatch(5*i, 4*i, encodePNG(t, p))
		pub.expectAck(2 + i)
		ev, img := plain.nextFrame()
		if err := testimg.SamePixels(decodePNG(t, img), want); ev["patch"] != nil || err != nil {
			t.Fatalf("plain after patch %d: %v (%v)", i+1, err, ev)
		}
		if ev, _ := withPatches.nextFrame(); ev["patch"] != true || num(ev, "seq") != 2+i {
			t.Fatalf("patches=1 after patch %d: got %v, want the patch", i+1, ev)
		}
	}
	waitFor(t, 5*time.Second, "node b's mirror back under its bound", func() bool { return b.b.Stats().MirrorBytes <= 1 })
	if st := b.b.Stats(); st.SyncDrops != 0 {
		t.Errorf("node b: %d patches not delivered, want 0", st.SyncDrops)
	}
}

// ClearLayers (a game turn) on one node clears the logs for every node: a
// sender on the other node, whose node still remembers its log's end, gets
// bad_request for its next patch (its append expects a sequence the
// cleared subject no longer has, and the subject holds no full frame), and
// a late joiner gets nothing; a full frame starts a new log.
func TestPatchAfterClearLayersAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub := dial(t, b, "pcl", "pub")
	pub.sendBinary(encodePNG(t, testimg.Noise(30, 30, 1, true)))
	pub.expectAck(1)
	patch := encodePNG(t, testimg.Noise(4, 4, 2, true))
	pub.sendPatch(1, 1, patch)
	pub.expectAck(2)
	if err := a.b.ClearLayers(context.Background(), "pcl"); err != nil {
		t.Fatalf("ClearLayers: %v", err)
	}
	pub.sendPatch(2, 2, patch)
	pub.expectRefused(relay.CodeBadRequest, 3)
	dialWith(t, a, "pcl", "late", dialOpts{query: "patches=1"}).expectNoFrame(300 * time.Millisecond)
	pub.sendBinary(encodePNG(t, testimg.Noise(30, 30, 3, true)))
	pub.expectAck(4)
	pub.sendPatch(3, 3, patch)
	pub.expectAck(5)
	late := dialWith(t, a, "pcl", "late2", dialOpts{query: "patches=1"})
	for _, seq := range []int{4, 5} {
		if ev, _ := late.nextFrame(); num(ev, "seq") != seq {
			t.Fatalf("late joiner: got %v, want seq %d", ev, seq)
		}
	}
}

// A node that misses frames of a log it has (here its subscription to the
// room's frames is dropped for a while) holds back the next patch, reads
// what it missed from the stream, from the end of its log on, and then
// delivers every patch, in order, none twice.
func TestMirrorCatchesUpAGap(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub := dial(t, a, "gap", "pub")
	sub := dialWith(t, b, "gap", "sub", dialOpts{query: "patches=1"})
	waitFor(t, 10*time.Second, "two members", func() bool { return a.count("gap") == 2 && b.count("gap") == 2 })
	quiet(pub, sub)
	want := testimg.Noise(40, 30, 1, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(1)
	sub.nextFrame()

	b.b.mu.Lock()
	rs := b.b.rooms["gap"]
	b.b.mu.Unlock()
	if err := rs.lsub.Unsubscribe(); err != nil { // node b stops hearing the room's frames
		t.Fatal(err)
	}
	sendPatch := func(i int) {
		p := testimg.Noise(5, 5, uint64(10+i), true)
		testimg.DrawPatch(want, i, i, p)
		pub.sendPatch(i, i, encodePNG(t, p))
		pub.expectAck(1 + i)
	}
	sendPatch(1)
	sendPatch(2)
	ls, err := b.b.nc.Subscribe(liveSubject("gap"), b.b.liveHandler(rs))
	if err != nil {
		t.Fatal(err)
	}
	b.b.mu.Lock()
	rs.lsub = ls
	b.b.mu.Unlock()
	if err := b.b.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	sendPatch(3)

	var seq testimg.Sequence
	seq.Seq = 1
	seq.Img = testimg.MustDecodePNG(t, encodePNG(t, testimg.Noise(40, 30, 1, true)))
	for i := 1; i <= 3; i++ {
		ev, img := sub.nextFrame()
		if err := seq.Take(ev["patch"] == true, num(ev, "seq"), num(ev, "x"), num(ev, "y"), img); err != nil {
			t.Fatalf("after the gap: %v (%v)", err, ev)
		}
	}
	if err := testimg.SamePixels(seq.Img, want); err != nil {
		t.Fatal(err)
	}
	sub.expectNoFrame(300 * time.Millisecond)
	if st := b.b.Stats(); st.SyncDrops != 0 {
		t.Errorf("node b: %d patches not delivered, want 0", st.SyncDrops)
	}
}

// A deployment's layer stream from before the layer log (one message per
// subject, no rollup, no republish) is updated in place by a node of this
// version: the frame it held is still a late joiner's layer, and patches
// work on the next full frame.
func TestLayerStreamUpgradedInPlace(t *testing.T) {
	ns := startNATS(t, 0)
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "RELAY_LAYERS", Subjects: []string{streamSubjects}, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardOld, AllowDirect: true,
	}); err != nil {
		t.Fatal(err)
	}
	old := noisePNG(t, 500, 1)
	env := relay.NewFrameEnvelope([]byte(`{"type":"frame","client":"old","seq":1}`), old)
	env.ID, env.Client, env.Seq, env.TS = "x-1", "old", 1, 1
	if _, err := js.Publish(ctx, frameSubject("up", "old"), encodeEnvelope(env)); err != nil {
		t.Fatal(err)
	}

	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	info, err := js.Stream(ctx, "RELAY_LAYERS")
	if err != nil {
		t.Fatal(err)
	}
	if cfg := info.CachedInfo().Config; cfg.MaxMsgsPerSubject != maxMsgsPerSubject || !cfg.AllowRollup || cfg.RePublish == nil {
		t.Fatalf("stream config after the nodes started: %+v, want it updated for layer logs", cfg)
	}
	dial(t, b, "up", "late").expectFrame("old", old)
	pub := dial(t, a, "up", "pub")
	pub.sendBinary(encodePNG(t, testimg.Noise(20, 20, 2, true)))
	pub.expectAck(1)
	pub.sendPatch(1, 1, encodePNG(t, testimg.Noise(3, 3, 3, true)))
	pub.expectAck(2)
	late := dialWith(t, b, "up", "late2", dialOpts{query: "patches=1"})
	late.expectFrame("old", old)
	for _, seq := range []int{1, 2} {
		if ev, _ := late.nextFrame(); str(ev, "client") != "pub" || num(ev, "seq") != seq {
			t.Fatalf("got %v, want pub's seq %d", ev, seq)
		}
	}
}

// Layers reads at most MaxRoomBytes of logs for a late joiner, the newest
// whole logs that fit: an older log that does not fit is left out whole,
// never cut.
func TestLayersWithinMaxRoomBytes(t *testing.T) {
	ns := startNATS(t, 0)
	// The newer log (a 5.6 KB full frame and a patch) fits, not both.
	a := startNode(t, ns, "a", func(c *Config) { c.MaxRoomBytes = 9000 })
	older, newer := dial(t, a, "rb", "older"), dial(t, a, "rb", "newer")
	older.sendBinary(noisePNG(t, 3000, 1))
	older.expectAck(1)
	full := noisePNG(t, 3000, 2)
	newer.sendBinary(full)
	newer.expectAck(1)
	patch := encodePNG(t, testimg.Noise(4, 4, 3, true))
	newer.sendPatch(0, 0, patch)
	newer.expectAck(2)
	late := dialWith(t, a, "rb", "late", dialOpts{query: "patches=1"})
	if ev, img := late.nextFrame(); str(ev, "client") != "newer" || !bytes.Equal(img, full) {
		t.Fatalf("got %v, want newer's full frame first: older's log does not fit", ev)
	}
	if ev, img := late.nextFrame(); ev["patch"] != true || !bytes.Equal(img, patch) {
		t.Fatalf("got %v, want newer's patch", ev)
	}
	late.expectNoFrame(300 * time.Millisecond)
}

// A NATS restart that loses the layer stream (memory storage) makes it
// again, numbering its messages from 1: the nodes' mirrors, which still
// hold the old logs and their sequences, take the new logs all the same
// (what a node has is said by frame ids and log indexes, not sequences),
// and patches are refused until a full frame, then flow again.
func TestPatchLogAfterTheStreamIsLost(t *testing.T) {
	ns := startNATS(t, 0)
	mem := func(c *Config) { c.LayerStorage = jetstream.MemoryStorage }
	a, b := startNode(t, ns, "a", mem), startNode(t, ns, "b", mem)
	pub := dial(t, a, "lost", "pub")
	sub := dialWith(t, b, "lost", "sub", dialOpts{query: "patches=1"})
	waitFor(t, 10*time.Second, "two members", func() bool { return a.count("lost") == 2 && b.count("lost") == 2 })
	quiet(pub, sub)
	pub.sendBinary(encodePNG(t, testimg.Noise(30, 30, 1, true)))
	pub.expectAck(1)
	patch := encodePNG(t, testimg.Noise(4, 4, 2, true))
	for seq := 2; seq <= 6; seq++ { // the old log's sequences go beyond the new one's
		pub.sendPatch(seq, seq, patch)
		pub.expectAck(seq)
	}
	for range 6 {
		sub.nextFrame()
	}

	ns.stop()
	ns.start()
	waitFor(t, 10*time.Second, "both nodes healthy again", func() bool { return a.b.Healthy() == nil && b.b.Healthy() == nil })
	waitFor(t, 10*time.Second, "the stream made again", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := a.b.js.Stream(ctx, a.b.cfg.Stream)
		return err == nil
	})
	pub.sendPatch(1, 1, patch)
	pub.expectRefused(relay.CodeBadRequest, 7)
	want := testimg.Noise(30, 30, 3, true)
	pub.sendBinary(encodePNG(t, want))
	pub.expectAck(8)
	p := testimg.Noise(6, 5, 4, true)
	testimg.DrawPatch(want, 3, 2, p)
	pub.sendPatch(3, 2, encodePNG(t, p))
	pub.expectAck(9)
	var seq testimg.Sequence
	seq.Seq = 6
	for range 2 {
		ev, img := sub.nextFrame()
		if err := seq.Take(ev["patch"] == true, num(ev, "seq"), num(ev, "x"), num(ev, "y"), img); err != nil {
			t.Fatalf("after the restart: %v (%v)", err, ev)
		}
	}
	if err := testimg.SamePixels(seq.Img, want); err != nil {
		t.Fatal(err)
	}
}
