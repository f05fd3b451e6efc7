package relay

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// shrinkSendBuffer makes the server's socket to client small, so that a
// big frame's write waits for that client to read.
func shrinkSendBuffer(t *testing.T, srv *Server, client string) {
	t.Helper()
	for _, c := range srv.snapshot() {
		if c.client == client {
			if err := c.nc.Conn.(interface{ SetWriteBuffer(int) error }).SetWriteBuffer(4096); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no connection of %s on the server", client)
}

// stuckSubscriber joins room with a socket that never reads, and tiny
// buffers on both ends: a write of a big frame to it never completes.
func stuckSubscriber(t *testing.T, srv *Server, u, room, client string) net.Conn {
	t.Helper()
	nc := rawConnSmall(t, u, room, "client="+client)
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, c := range srv.snapshot() {
			if c.client == client {
				shrinkSendBuffer(t, srv, client)
				return nc
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never joined", client)
		}
		time.Sleep(5 * time.Millisecond) // polling the server's registry, not synchronising a race
	}
}

// When no subscriber takes the frames, every ack waits ackHoldMax; a
// subscriber that keeps up gets acks going at once.
func TestAckHeldUntilWrittenOrAckHoldMax(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	big := readTestdata(t, "canvas-1920x1080.png")

	pub := dial(t, u, "held", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	stuckSubscriber(t, srv, u, "held", "stuck")
	pub.expect(TypePresence)

	// Only a stuck subscriber: frame 1 may still fit in the socket's
	// buffers, but frame 2 waits behind it and frame 3 replaces it. Those
	// never reach their quorum (1 of 1), so their acks come after
	// ackHoldMax.
	start := time.Now()
	for i := 1; i <= 3; i++ {
		pub.sendBinary(big)
	}
	seen := map[int]bool{}
	for i := 1; i <= 3; i++ {
		a := pub.expect(TypeAck)
		seen[num(a.ev, "seq")] = true
	}
	took := time.Since(start)
	timedOut := testutil.ToFloat64(srv.metrics.acksTimedOut)
	t.Logf("3 acks with only a stuck subscriber: %s, %v timed out", took, timedOut)
	if len(seen) != 3 || timedOut < 2 || took < ackHoldMax*9/10 {
		t.Fatalf("got acks %v, %v timed out, in %s; want seqs 1-3, at least 2 after about %s", seen, timedOut, took, ackHoldMax)
	}

	// A subscriber that keeps up: its writes make the quorum (1 of 2), and
	// acks come at once again.
	fast := dial(t, u, "held", dialOpt{query: "client=fast"})
	fast.expect(TypeHello)
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		pub.sendBinary(big)
		pub.expectSkippingFrames(TypeAck)
		if d := time.Since(t0); d > ackHoldMax/2 {
			t.Fatalf("ack %d took %s with a subscriber keeping up", i, d)
		}
		fast.nextFrame(10 * time.Second)
	}
	if got := testutil.ToFloat64(srv.metrics.acksTimedOut); got != timedOut {
		t.Fatalf("timed-out acks went from %v to %v with a subscriber keeping up", timedOut, got)
	}
}

// frameSeqs reads c until it has a frame of seq last, and returns the seqs
// of the frames it got.
func frameSeqs(t *testing.T, c *tclient, last int, timeout time.Duration) map[int]bool {
	t.Helper()
	got := map[int]bool{}
	deadline := time.Now().Add(timeout)
	for !got[last] {
		m := c.next(time.Until(deadline))
		if m.op == gws.OpcodeText && m.typ == TypeFrame {
			got[num(m.ev, "seq")] = true
		}
	}
	return got
}

// sendWindowed sends n copies of img keeping window frames unacked, as a
// sender pacing on acks does, and returns the seqs acked, in order.
func sendWindowed(t *testing.T, pub *tclient, img []byte, n, window int) []int {
	t.Helper()
	var acked []int
	sent := 0
	for len(acked) < n {
		for sent < n && sent-len(acked) < window {
			pub.sendBinary(img)
			sent++
		}
		m := pub.next(20 * time.Second)
		switch {
		case m.op == gws.OpcodeText && m.typ == TypeAck:
			acked = append(acked, num(m.ev, "seq"))
		case m.op == gws.OpcodeText && m.typ == TypeError:
			t.Fatalf("frame refused: %s", m.data)
		}
	}
	return acked
}

// With subscribers that all read at full speed, a sender with 4 frames in
// flight is paced to delivery: the frames the relay accepts are the frames
// its subscribers get, not frames that replace each other unseen.
func TestAckPacesSenderToDelivery(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	big := readTestdata(t, "canvas-1920x1080.png")
	const room, n, window = "paced", 30, 4

	pub := dial(t, u, room, dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	var subs []*tclient
	for i := 0; i < 3; i++ {
		s := dial(t, u, room, dialOpt{query: "client=sub" + itoa(i)})
		s.expect(TypeHello)
		pub.expect(TypePresence)
		// Small server buffers: a write completes only as the subscriber
		// reads, so the subscribers' reading, not the kernel, sets the pace.
		shrinkSendBuffer(t, srv, "sub"+itoa(i))
		subs = append(subs, s)
	}

	start := time.Now()
	acked := sendWindowed(t, pub, big, n, window)
	took := time.Since(start)
	reached := map[int]bool{}
	for _, s := range subs { // what they read is buffered in their clients
		for seq := range frameSeqs(t, s, n, 30*time.Second) {
			reached[seq] = true
		}
	}
	nobody := 0
	for _, seq := range acked {
		if !reached[seq] {
			nobody++
		}
	}
	replaced := testutil.ToFloat64(srv.metrics.dropped.WithLabelValues(dropSuperseded))
	t.Logf("%d frames accepted in %s, %d reached no subscriber, %v replaced in queues, %v acks timed out", len(acked), took, nobody, replaced, testutil.ToFloat64(srv.metrics.acksTimedOut))
	// Warm-up: the first window's frames arrive together, and two of them
	// may be replaced everywhere. After that, a replaced frame's ack comes
	// after ackHoldMax and lets one more frame in, which may replace
	// another: about one frame per second of streaming (ack.go). Acking on
	// queueing, as before, lets most frames replace each other unseen.
	limit := window + 2*int(took/ackHoldMax+1)
	if nobody > limit {
		t.Fatalf("%d of %d accepted frames reached no subscriber in %s, want at most %d", nobody, n, took, limit)
	}
}

// A stalled minority never slows the sender: the quorum is made by the
// subscribers that read, and no ack waits for the stalled one.
func TestAckStalledMinorityDoesNotSlowSender(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	big := readTestdata(t, "canvas-1920x1080.png")
	const room, n = "minority", 20

	pub := dial(t, u, room, dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	var subs []*tclient
	for i := 0; i < 3; i++ {
		s := dial(t, u, room, dialOpt{query: "client=sub" + itoa(i)})
		s.expect(TypeHello)
		pub.expect(TypePresence)
		subs = append(subs, s)
	}
	stuckSubscriber(t, srv, u, room, "stuck")
	pub.expect(TypePresence)

	start := time.Now()
	acked := sendWindowed(t, pub, big, n, 1)
	took := time.Since(start)
	for _, s := range subs {
		frameSeqs(t, s, n, 30*time.Second)
	}
	timedOut := testutil.ToFloat64(srv.metrics.acksTimedOut)
	t.Logf("%d frames, one at a time, with 3 readers and 1 stalled: %s; %v acks timed out", len(acked), took, timedOut)
	if timedOut != 0 {
		t.Fatalf("%v acks waited %s for the stalled subscriber", timedOut, ackHoldMax)
	}
	if took >= n*ackHoldMax/2 {
		t.Fatalf("%d frames took %s", n, took)
	}
}

// Every frame gets exactly one answer, whatever holds its ack: a stalled
// majority (acks time out), more frames in flight than maxHeldAcks (the
// oldest goes early), and a subscriber that reads.
func TestAckEveryFrameAnsweredOnce(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	big := readTestdata(t, "canvas-1920x1080.png")
	small := readTestdata(t, "canvas-opaque-64x48.png")
	const room = "once"
	n := maxHeldAcks + 16

	pub := dial(t, u, room, dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	fast := dial(t, u, room, dialOpt{query: "client=fast"})
	fast.expect(TypeHello)
	pub.expect(TypePresence)
	for _, name := range []string{"stuck1", "stuck2"} {
		stuckSubscriber(t, srv, u, room, name)
		pub.expect(TypePresence)
		fast.expect(TypePresence)
	}

	// A big frame first, so that the stuck ones' writes block; then small
	// ones, all sent without waiting for answers.
	pub.sendBinary(big)
	for i := 1; i < n; i++ {
		pub.sendBinary(small)
	}
	count := map[int]int{}
	deadline := time.Now().Add(30 * time.Second)
	for len(count) < n {
		m := pub.next(time.Until(deadline))
		if m.op != gws.OpcodeText || m.typ == TypePresence {
			continue
		}
		if m.typ != TypeAck {
			t.Fatalf("got %s, want acks only", describe(m))
		}
		count[num(m.ev, "seq")]++
	}
	// Past the longest hold, nothing more may come.
	pub.expectNothing(ackHoldMax + ackHoldMax/2)
	for seq := 1; seq <= n; seq++ {
		if count[seq] != 1 {
			t.Fatalf("frame %d answered %d times, want once (answers: %v)", seq, count[seq], count)
		}
	}
	t.Logf("%d frames, %v acks timed out", n, testutil.ToFloat64(srv.metrics.acksTimedOut))
}

// A subscriber that gets a frame every few milliseconds keeps its writer
// goroutine: frames do not each start one.
func TestWriterReusedAcrossFrames(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	small := readTestdata(t, "canvas-opaque-64x48.png")
	const room, n, subs = "reuse", 60, 3

	pub := dial(t, u, room, dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	var readers []*tclient
	for i := 0; i < subs; i++ {
		s := dial(t, u, room, dialOpt{query: "client=sub" + itoa(i)})
		s.expect(TypeHello)
		pub.expect(TypePresence)
		readers = append(readers, s)
	}
	before := srv.writerStarts.Load()
	sendWindowed(t, pub, small, n, 1)
	for _, s := range readers {
		frameSeqs(t, s, n, 30*time.Second)
	}
	started := srv.writerStarts.Load() - before
	t.Logf("%d frames, one at a time, to %d subscribers: %d writer goroutines started", n, subs, started)
	// One start per frame per subscriber would be n*subs; a pause longer
	// than writerLinger on a loaded machine may start a few.
	if started > n*subs/4 {
		t.Fatalf("%d writer goroutines started for %d frames to %d subscribers", started, n, subs)
	}
}

// A frame written to a fast subscriber and replaced, for two slow ones,
// by a newer frame of its sender gets its ack once the slow ones are
// written that newer frame: they moved past it, so it has its quorum (2
// of 3) without waiting ackHoldMax. With hundreds of subscribers at
// different paces this is the common case, and a held ack is a slot of
// the sender's window.
func TestAckCountsSubscribersThatMovedPast(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	big := readTestdata(t, "canvas-1920x1080.png")
	const room = "past"

	pub := dial(t, u, room, dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	fast := dial(t, u, room, dialOpt{query: "client=fast"})
	fast.expect(TypeHello)
	pub.expect(TypePresence)
	var slow []net.Conn
	for _, name := range []string{"slow1", "slow2"} {
		slow = append(slow, stuckSubscriber(t, srv, u, room, name))
		pub.expect(TypePresence)
	}

	// Frame 1 is stuck in the slow subscribers' sockets; frame 2 waits
	// behind it in their queues, and frame 3 replaces it there. The fast
	// subscriber is written each before the next is sent.
	for seq := 1; seq <= 3; seq++ {
		pub.sendBinary(big)
		frameSeqs(t, fast, seq, 10*time.Second)
	}
	start := time.Now()
	for _, nc := range slow {
		go func() { _, _ = io.Copy(io.Discard, nc) }() // ends when the test closes nc
	}
	got := map[int]time.Duration{}
	for len(got) < 3 {
		a := pub.expect(TypeAck)
		got[num(a.ev, "seq")] = time.Since(start)
	}
	timedOut := testutil.ToFloat64(srv.metrics.acksTimedOut)
	t.Logf("acks after the slow subscribers began reading: %v; %v timed out", got, timedOut)
	if timedOut != 0 {
		t.Fatalf("%v acks timed out; frame 2 was written to 1 subscriber and passed by 2 of 3, its quorum", timedOut)
	}
}
