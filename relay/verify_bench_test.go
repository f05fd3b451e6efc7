package relay

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// fanoutRig is one relay with subs subscribers and a publisher, ready to
// send one frame at a time and wait until every subscriber has it.
type fanoutRig struct {
	pub  *gws.Conn
	cnt  *benchCounter
	subs int
}

func newFanoutRig(b *testing.B, cfg Config, subs int) *fanoutRig {
	b.Helper()
	srv, base := startServer(b, cfg)
	r := &fanoutRig{cnt: &benchCounter{done: make(chan struct{}, 1)}, subs: subs}
	r.cnt.want.Store(-1)
	var conns []*gws.Conn
	dialOne := func(h gws.Event, q string) *gws.Conn {
		c, _, err := gws.NewClient(h, &gws.ClientOption{Addr: base + "/ws/bench?" + q, ReadMaxPayloadSize: 16 << 20})
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		go c.ReadLoop()
		conns = append(conns, c)
		return c
	}
	for i := range subs {
		dialOne(benchSub{c: r.cnt}, fmt.Sprintf("client=s%d", i))
	}
	r.pub = dialOne(gws.BuiltinEventHandler{}, "client=pub")
	b.Cleanup(func() {
		for _, c := range conns {
			_ = c.WriteClose(1000, nil)
		}
	})
	for settled, deadline := 0, time.Now().Add(60*time.Second); settled < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		if srv.queuedBytes() == 0 {
			settled++
		} else {
			settled = 0
		}
	}
	return r
}

// send publishes img and returns how long until every subscriber had it.
func (r *fanoutRig) send(b *testing.B, img []byte) time.Duration {
	t0 := time.Now()
	r.cnt.want.Store(r.cnt.got.Load() + int64(r.subs))
	if err := r.pub.WriteMessage(gws.OpcodeBinary, img); err != nil {
		b.Fatal(err)
	}
	select {
	case <-r.cnt.done:
	case <-time.After(30 * time.Second):
		b.Fatalf("%d of %d deliveries after 30s", r.cnt.got.Load(), r.cnt.want.Load())
	}
	return time.Since(t0)
}

// BenchmarkFanoutVerifyRatio compares fan-out under --verify structure (the
// default) with --verify header: one 100 KB PNG at a time to 100
// subscribers, alternating between two relays in one loop so that machine
// load hits both alike, and reports structure's time over header's: the
// ratio of the sums, and the median of the per-pair ratios (robust to load
// spikes from other processes).
//
//	go test ./relay -run '^$' -bench FanoutVerifyRatio -benchtime 300x
func BenchmarkFanoutVerifyRatio(b *testing.B) {
	img := benchImage(b, 100<<10)
	cfg := func(v VerifyMode) Config {
		return Config{Verify: v, MaxMembersPerRoom: 2000, MaxConnsPerIP: 2000, FrameRate: -1, ByteRate: -1}
	}
	const subs = 100
	header := newFanoutRig(b, cfg(VerifyHeader), subs)
	structure := newFanoutRig(b, cfg(VerifyStructure), subs)
	var th, ts time.Duration
	var ratios []float64 // per pair of frames: a load spike hits one pair, not the median
	b.SetBytes(int64(2 * len(img) * subs))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var h, st time.Duration
		if i%2 == 0 { // alternate which goes first
			h = header.send(b, img)
			st = structure.send(b, img)
		} else {
			st = structure.send(b, img)
			h = header.send(b, img)
		}
		th += h
		ts += st
		ratios = append(ratios, float64(st)/float64(h))
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "median-structure/header")
	b.ReportMetric(float64(ts)/float64(th), "structure/header")
	b.ReportMetric(float64(th.Microseconds())/float64(b.N), "header-µs/frame")
	b.ReportMetric(float64(ts.Microseconds())/float64(b.N), "structure-µs/frame")
}
