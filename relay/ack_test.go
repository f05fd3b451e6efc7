package relay

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// When every subscriber is behind, the sender's ack waits for the first
// write, at most ackHoldMax; one subscriber that keeps up gets acks going
// at once. Every frame is answered either way.
func TestAckHeldOnlyWhenEveryoneIsBehind(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	big := readTestdata(t, "canvas-1920x1080.png")

	pub := dial(t, u, "held", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	stuck := rawConnSmall(t, u, "held", "client=stuck") // reads nothing, tiny buffers
	pub.expect(TypePresence)
	for _, c := range srv.snapshot() {
		if c.client == "stuck" {
			if err := c.nc.Conn.(interface{ SetWriteBuffer(int) error }).SetWriteBuffer(4096); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = stuck

	// Only a stuck subscriber: frame 1 is written at once and frame 2 waits
	// behind it (both acked at once: the subscriber had nothing pending);
	// frame 3 replaces frame 2 unseen, so its ack is held.
	start := time.Now()
	for i := 1; i <= 3; i++ {
		pub.sendBinary(big)
	}
	for i := 1; i <= 3; i++ {
		if a := pub.expect(TypeAck); num(a.ev, "seq") < 1 {
			t.Fatalf("got %s", a.data)
		}
	}
	took := time.Since(start)
	held := testutil.ToFloat64(srv.metrics.acksHeld)
	t.Logf("3 acks with only a stuck subscriber: %s, %v held", took, held)
	if held != 1 || took < ackHoldMax/2 {
		t.Fatalf("got %v held acks in %s, want 1 held for about %s", held, took, ackHoldMax)
	}

	// A subscriber that keeps up: acks come at once again.
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
	if got := testutil.ToFloat64(srv.metrics.acksHeld); got != held {
		t.Fatalf("held acks went from %v to %v with a subscriber keeping up", held, got)
	}
}
