package relay

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestFrozenSubscriberDoesNotStallOthers is in the spirit of tailscale
// derp's TestSendFreeze: one subscriber stops reading; the others keep their
// latency, the server holds at most one pending frame per source for the
// frozen one plus its event cap, and it is cut off with 4001.
func TestFrozenSubscriberDoesNotStallOthers(t *testing.T) {
	const (
		writeTimeout = time.Second
		// Stated bound: the readers' p90 latency stays under the write
		// timeout. Were the frozen subscriber to stall the publisher or the
		// fan-out, every frame after its buffers filled would wait for the
		// write timeout, and the p90 would be over it. (p90, not p99: a
		// loaded 2-core CI machine under -race has single-frame hiccups.)
		latencyBound = writeTimeout
	)
	srv, url := startServer(t, Config{WriteTimeout: writeTimeout, ShutdownGrace: 200 * time.Millisecond, FrameRate: -1, ByteRate: -1})
	img := readTestdata(t, "canvas-1920x1080.png") // ≈390 KB

	pub := dial(t, url, "freeze", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	zed := dial(t, url, "freeze", dialOpt{query: "client=zed", frozen: true})
	pub.expect(TypePresence)
	var readers []*tclient
	for i := 0; i < 3; i++ {
		r := dial(t, url, "freeze", dialOpt{query: "client=reader" + itoa(i)})
		r.expect(TypeHello)
		pub.expect(TypePresence)
		readers = append(readers, r)
	}
	for i, r := range readers {
		for j := i + 1; j < len(readers); j++ {
			r.expect(TypePresence)
		}
	}
	var zconn *conn
	for _, c := range srv.snapshot() {
		if c.client == "zed" {
			zconn = c
		}
	}
	if zconn == nil {
		t.Fatal("frozen connection not found on the server")
	}

	var lat []time.Duration
	maxFrames, maxEvBytes := 0, 0
	deadline := time.Now().Add(writeTimeout + 3*time.Second)
	cutAt := time.Time{}
	for time.Now().Before(deadline) { // until the frozen one is cut off, whatever the machine's speed
		start := time.Now()
		pub.sendBinary(img)
		for _, r := range readers {
			for m := r.next(5 * time.Second); m.typ != TypeFrame; m = r.next(5 * time.Second) {
				if m.typ != TypePresence {
					t.Fatalf("reader got %s, want a frame event", describe(m))
				}
			}
			if m := r.next(5 * time.Second); len(m.data) != len(img) {
				t.Fatalf("reader got %s, want the image", describe(m))
			}
		}
		lat = append(lat, time.Since(start))
		pub.expectSkippingFrames(TypeAck)
		st := zconn.q.stats()
		maxFrames = max(maxFrames, st.Frames)
		maxEvBytes = max(maxEvBytes, st.EventBytes)
		if cutAt.IsZero() && zconn.closing.Load() {
			cutAt = time.Now()
		}
		if !cutAt.IsZero() && time.Since(cutAt) > 500*time.Millisecond {
			break
		}
	}
	if cutAt.IsZero() {
		t.Fatalf("the frozen subscriber was not cut off within %s", writeTimeout+3*time.Second)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p90 := lat[len(lat)*9/10]
	t.Logf("%d frames: reader latency p50 %s, p90 %s, max %s; frozen queue max %d frames, %d event bytes",
		len(lat), lat[len(lat)/2], p90, lat[len(lat)-1], maxFrames, maxEvBytes)
	if p90 > latencyBound {
		t.Errorf("reader p90 latency: got %s, want under %s", p90, latencyBound)
	}
	if maxFrames > 1 {
		t.Errorf("frozen subscriber's pending frames: got %d, want at most 1 (one source)", maxFrames)
	}
	if maxEvBytes > srv.cfg.EventQueueMaxBytes {
		t.Errorf("frozen subscriber's event bytes: got %d, want at most %d", maxEvBytes, srv.cfg.EventQueueMaxBytes)
	}
	waitFor(t, 3*time.Second, func() bool {
		return testutil.ToFloat64(srv.metrics.disconnects.WithLabelValues(reasonSlowConsumer, "4001")) == 1
	}, "disconnects{slow_consumer,4001} to be 1")
	zed.unfreeze()
	zed.closeCode(5 * time.Second) // its connection is gone
	if !strings.Contains(scrape(t, srv), `canvasrelay_disconnects_total{code="4001",reason="slow_consumer"} 1`) {
		t.Errorf("metrics do not show the slow consumer")
	}
}

func waitFor(t testing.TB, d time.Duration, cond func() bool, what string) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
