package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBigFrameCrossesNodes: with max_payload configured, a frame over
// NATS's 1 MiB default crosses nodes byte-exact, and late joiners get it.
func TestBigFrameCrossesNodes(t *testing.T) {
	ns := startNATS(t, 8<<20) // max_payload: 8MB
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	pub, sub := dial(t, a, "big", "pub"), dial(t, b, "big", "sub")
	img := noisePNG(t, 1536<<10, 99)
	if len(img) <= 1<<20 {
		t.Fatalf("got a %d-byte image, want more than 1 MiB", len(img))
	}
	pub.sendFrame(img)
	sub.expectFrame("pub", img)
	late := dial(t, b, "big", "late")
	late.expectFrame("pub", img)
}

// TestStartupCheckCatchesSmallMaxPayload: a server whose max_payload cannot
// carry --max-bytes is refused at startup, with what to set.
func TestStartupCheckCatchesSmallMaxPayload(t *testing.T) {
	ns := startNATS(t, 1<<20) // the NATS default
	tests := []struct {
		maxBytes int
		want     string // "" for ok
	}{
		{512 << 10, ""},
		{1 << 20, "max_payload: 2MB"},
		{4 << 20, "max_payload: 8MB"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dKiB", tt.maxBytes>>10), func(t *testing.T) {
			cfg := testConfig(ns.url(), "check")
			cfg.MaxBytes = tt.maxBytes
			b, err := New(context.Background(), cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v, want ok", err)
				}
				_ = b.Close()
				return
			}
			if err == nil {
				_ = b.Close()
				t.Fatalf("New with max bytes %d against max_payload 1MB: got ok, want ErrMaxPayload", tt.maxBytes)
			}
			if !errors.Is(err, ErrMaxPayload) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrMaxPayload saying %q", err, tt.want)
			}
			t.Logf("the message: %v", err)
		})
	}
}

// TestNATSRestart: with NATS stopped, local members still reach each other
// (frames and chat, exactly once), /readyz says 503, and nothing piles up;
// after NATS comes back on the same port and store, cross-node delivery and
// presence resume by themselves, still exactly once.
func TestNATSRestart(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	a1, a2 := dial(t, a, "o", "a1"), dial(t, a, "o", "a2")
	b1 := dial(t, b, "o", "b1")
	waitFor(t, 5*time.Second, "both nodes count 3", func() bool { return a.count("o") == 3 && b.count("o") == 3 })
	drainPresence(a1, a2, b1)
	if got := a.readyz(t); got != http.StatusOK {
		t.Fatalf("readyz before the outage: got %d, want 200", got)
	}
	img0 := noisePNG(t, 3000, 4)
	a1.sendFrame(img0)
	a2.expectFrame("a1", img0)
	b1.expectFrame("a1", img0)

	ns.stop()
	waitFor(t, 5*time.Second, "both brokers unhealthy", func() bool {
		return a.b.Healthy() != nil && b.b.Healthy() != nil
	})
	if got := a.readyz(t); got != http.StatusServiceUnavailable {
		t.Errorf("readyz during the outage: got %d, want 503", got)
	}
	goroutines := runtime.NumGoroutine()
	img := noisePNG(t, 3000, 5)
	a1.sendFrame(img)
	a2.expectFrame("a1", img)
	for i := range 8 { // under the relay's chat burst
		a1.sendChat("during the outage " + strconv.Itoa(i))
		if got := str(a2.expect("chat").ev, "text"); got != "during the outage "+strconv.Itoa(i) {
			t.Fatalf("a2: got chat %q, want line %d", got, i)
		}
	}
	b1.sendChat("b alone")
	a2.expectNothing(200 * time.Millisecond)
	a1.expectNothing(0)
	if got := runtime.NumGoroutine(); got > goroutines+10 {
		t.Errorf("got %d goroutines after 9 messages during the outage, had %d", got, goroutines)
	}
	a.srv.Registry().MustRegister(a.b)
	if got := metric(t, a, "canvasrelay_broker_local_fallbacks_total"); got < 9 {
		t.Errorf("got %v local fallbacks, want at least 9", got)
	}
	if got := metric(t, a, "canvasrelay_broker_nats_connected"); got != 0 {
		t.Errorf("got canvasrelay_broker_nats_connected %v during the outage, want 0", got)
	}

	ns.start()
	waitFor(t, 10*time.Second, "both brokers healthy again", func() bool {
		return a.b.Healthy() == nil && b.b.Healthy() == nil
	})
	if got := a.readyz(t); got != http.StatusOK {
		t.Errorf("readyz after the outage: got %d, want 200", got)
	}
	if got := metric(t, a, "canvasrelay_broker_nats_connected"); got != 1 {
		t.Errorf("got canvasrelay_broker_nats_connected %v after the outage, want 1", got)
	}
	waitFor(t, 5*time.Second, "both nodes count 3 again", func() bool { return a.count("o") == 3 && b.count("o") == 3 })
	// The restart lost the presence bucket (memory storage); the nodes wrote
	// their keys again, and nobody was told that anyone left or joined.
	for _, c := range []*tclient{a1, a2, b1} {
		c.expectNothing(300 * time.Millisecond)
	}

	a1.sendChat("after")
	for _, r := range []*tclient{a2, b1} {
		if got := str(r.expect("chat").ev, "text"); got != "after" {
			t.Errorf("%s: got chat %q, want \"after\"", r.name, got)
		}
	}
	img2 := noisePNG(t, 3000, 6)
	b1.sendFrame(img2)
	a1.expectFrame("b1", img2)
	a2.expectFrame("b1", img2)
	for _, c := range []*tclient{a1, a2, b1} {
		c.expectNothing(300 * time.Millisecond)
	}
	c1 := dial(t, b, "o", "c1")
	if got := num(c1.hello, "count"); got != 4 {
		t.Errorf("c1: got hello count %d, want 4", got)
	}
	// The stream's store survived the restart. A frame sent during the
	// outage reached local members only and is not retained: a1's layer is
	// still its frame from before.
	c1.expectFrame("a1", img0)
	c1.expectFrame("b1", img2)
}

// metric reads one unlabelled metric from the node's registry.
func metric(t *testing.T, n *node, name string) float64 {
	t.Helper()
	mfs, err := n.srv.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}
