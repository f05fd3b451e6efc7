package bench

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

func quickOptions(t *testing.T) Options {
	t.Helper()
	return Options{Quick: true, Logger: testLogger(t), ServerLogger: testLogger(t)}
}

// runQuick runs a scenario in quick mode and fails the test if it fails.
func runQuick(t *testing.T, scenario string) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, scenario, quickOptions(t))
	if err != nil {
		t.Fatalf("bench %s --quick: %v", scenario, err)
	}
	t.Logf("bench %s --quick took %s", scenario, time.Since(start).Round(time.Millisecond))
	if rep.Scenario != scenario {
		t.Fatalf("report scenario: got %q, want %q", rep.Scenario, scenario)
	}
	return rep
}

func mustRun(t *testing.T, rep *Report, name string) *RunResult {
	t.Helper()
	r := rep.run(name)
	if r == nil {
		t.Fatalf("no run %q in the report", name)
	}
	if r.Error != "" {
		t.Fatalf("run %s: %s", name, r.Error)
	}
	return r
}

// TestQuickScenarios is the CI smoke test: every available scenario runs
// in quick mode against an in-process relay and floor, and must not fail.
func TestQuickScenarios(t *testing.T) {
	t.Run("fanout", func(t *testing.T) {
		rep := runQuick(t, "fanout")
		for _, name := range []string{implRelay, implFloor} {
			f := mustRun(t, rep, name).Fanout
			if f.Published == 0 || f.Delivered == 0 {
				t.Errorf("%s: published %d, delivered %d, want both > 0", name, f.Published, f.Delivered)
			}
			if f.GotLast != f.Subscribers {
				t.Errorf("%s: %d of %d subscribers got the last frame, want all", name, f.GotLast, f.Subscribers)
			}
			if f.Latency.Count == 0 || f.Latency.P50 <= 0 || f.Latency.Max < f.Latency.P99 {
				t.Errorf("%s: latency %+v, want samples with p50 > 0 and max >= p99", name, f.Latency)
			}
			if f.ClientDropped != 0 {
				t.Errorf("%s: the bench's clients dropped %d frames, want 0", name, f.ClientDropped)
			}
		}
		if r := mustRun(t, rep, implFloor).Fanout.DeliveryRatio; r != 1 {
			t.Errorf("floor delivery ratio: got %.3f, want 1 (the floor drops nothing)", r)
		}
		if p := mustRun(t, rep, implRelay).Proc; p == nil || p.PID == 0 || p.RSSStart == 0 {
			t.Errorf("relay proc: got %+v, want this process's CPU and RSS", p)
		}
		if len(rep.Ratios) == 0 || rep.Ratios[0].Value <= 0 {
			t.Errorf("ratios: got %+v, want delivered MB/s relay/floor > 0", rep.Ratios)
		}
	})
	t.Run("stalled", func(t *testing.T) {
		rep := runQuick(t, "stalled")
		for _, name := range []string{"relay", "relay+stalled", "floor", "floor+stalled"} {
			f := mustRun(t, rep, name).Fanout
			if f.GotLast != f.Subscribers {
				t.Errorf("%s: %d of %d fast subscribers got the last frame, want all", name, f.GotLast, f.Subscribers)
			}
		}
		co := mustRun(t, rep, "relay+stalled").Fanout.CutOff
		if co == nil || !co.Metrics {
			t.Fatalf("relay+stalled cut-off: got %+v, want one read from /metrics", co)
		}
		if co.ServerCount != co.Stalled || co.Stalled != 1 {
			t.Errorf("relay cut off %d stalled subscribers with 4001, want %d", co.ServerCount, co.Stalled)
		}
		if co.Closed != co.Stalled {
			t.Errorf("stalled sockets closed by the relay: got %d, want %d", co.Closed, co.Stalled)
		}
		if co.FirstSeconds <= 0 {
			t.Errorf("cut-off time: got %.2fs, want > 0", co.FirstSeconds)
		}
		if fco := mustRun(t, rep, "floor+stalled").Fanout.CutOff; fco == nil || fco.ServerCount != 0 || fco.Closed != 0 {
			t.Errorf("floor cut-off: got %+v, want none (the floor never cuts anyone off)", fco)
		}
	})
	t.Run("renditions", func(t *testing.T) {
		rep := runQuick(t, "renditions")
		f := mustRun(t, rep, implRelay).Fanout
		// Each rendition of a frame is computed once and shared by its
		// subscribers: never more than one per rendition per frame. A frame
		// replaced on the worker pool before its turn (latest-wins) is not
		// re-encoded at all, so a loaded machine may see fewer.
		most := float64(f.Published * len(benchRenditions))
		if f.Published == 0 || f.Reencodes > most || f.Reencodes < float64(len(benchRenditions)) {
			t.Errorf("re-encodes: got %.0f for %d frames, want %d to %.0f (at most one per rendition per frame)", f.Reencodes, f.Published, len(benchRenditions), most)
		}
		if len(f.Groups) != len(benchRenditions) {
			t.Fatalf("rendition stats: got %d, want %d", len(f.Groups), len(benchRenditions))
		}
		for _, g := range f.Groups {
			if g.Frames == 0 || g.Mismatched != 0 {
				t.Errorf("rendition %s: %d frames, %d not as asked (%s); want frames, all as asked", g.Name, g.Frames, g.Mismatched, g.FirstMismatch)
			}
		}
		mustRun(t, rep, implFloor)
	})
	t.Run("cluster", func(t *testing.T) {
		rep := runQuick(t, "cluster")
		for _, name := range []string{"single", "nats", implFloor} {
			f := mustRun(t, rep, name).Fanout
			if f.Published == 0 || f.GotLast != f.Subscribers || f.Duplicates != 0 || f.OutOfOrder != 0 {
				t.Errorf("%s: published %d, %d/%d got the last frame, %d duplicates, %d out of order; want > 0, all, none, none",
					name, f.Published, f.GotLast, f.Subscribers, f.Duplicates, f.OutOfOrder)
			}
		}
		groups := mustRun(t, rep, "nats").Fanout.Groups
		if len(groups) != 2 {
			t.Fatalf("nats groups: got %d, want 2 (one per node)", len(groups))
		}
		for _, g := range groups {
			if g.Frames == 0 {
				t.Errorf("%s: no frames; want the publisher's frames on both nodes", g.Name)
			}
		}
	})
	t.Run("idle", func(t *testing.T) {
		rep := runQuick(t, "idle")
		for _, name := range []string{implRelay, implFloor} {
			r := mustRun(t, rep, name).Idle
			if r.ServerConns != r.Conns {
				t.Errorf("%s holds %d connections, want %d", name, r.ServerConns, r.Conns)
			}
			if r.ConnectRate <= 0 || r.RSSAfter == 0 {
				t.Errorf("%s: connect rate %.0f/s, RSS after %d, want both > 0", name, r.ConnectRate, r.RSSAfter)
			}
		}
	})
}

// TestQuickLiteDeliveryPaced runs fanout with the lite reader and the
// delivery-paced publisher, the other measuring modes.
func TestQuickLiteDeliveryPaced(t *testing.T) {
	o := quickOptions(t)
	o.Reader, o.Pace, o.Window = ReaderLite, PaceDelivery, 1
	rep, err := Run(context.Background(), "fanout", o)
	if err != nil {
		t.Fatalf("fanout --reader lite --pace delivery: %v", err)
	}
	for _, name := range []string{implRelay, implFloor} {
		f := mustRun(t, rep, name).Fanout
		if f.DeliveryRatio != 1 || f.Duplicates != 0 || f.GotLast != f.Subscribers {
			t.Errorf("%s: delivery ratio %.3f, %d duplicates, %d/%d got the last; want 1, 0, all (window 1 leaves nothing to supersede)",
				name, f.DeliveryRatio, f.Duplicates, f.GotLast, f.Subscribers)
		}
	}
}

func TestRunRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, scenario string
		opt            Options
		want           error
	}{
		{"unknown scenario", "nope", Options{}, ErrUnknownScenario},
		{"remote ip", "fanout", Options{URL: "ws://192.0.2.1:8080"}, ErrNotLoopback},
		{"remote name", "fanout", Options{URL: "ws://example.com:8080"}, ErrNotLoopback},
		{"remote floor", "idle", Options{FloorURL: "ws://10.0.0.1:8080"}, ErrNotLoopback},
		{"events for a floor elsewhere", "fanout", Options{FloorURL: "ws://127.0.0.1:8081", FloorEvents: true}, ErrBadOptions},
		{"tls", "fanout", Options{URL: "wss://127.0.0.1:8080"}, ErrBadOptions},
		{"no port", "fanout", Options{URL: "ws://127.0.0.1"}, ErrBadOptions},
		{"frame too big", "fanout", Options{Size: 9 << 20}, ErrBadOptions},
		{"frame too small", "fanout", Options{Size: 10}, ErrBadOptions},
		{"negative rate", "fanout", Options{Rate: -1}, ErrBadOptions},
		{"bad pace", "fanout", Options{Pace: "fast"}, ErrBadOptions},
		{"bad reader", "fanout", Options{Reader: "quick"}, ErrBadOptions},
		{"bad room", "fanout", Options{Room: "bad room"}, ErrBadOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opt.Logger = testLogger(t)
			tt.opt.Quick = true
			_, err := Run(ctx, tt.scenario, tt.opt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// TestFanoutFailsOnRejectedFrames shows that a run can fail: frames the
// relay rejects (here, bytes that are not an image) fail the scenario.
func TestFanoutFailsOnRejectedFrames(t *testing.T) {
	o := quickOptions(t).defaults("fanout")
	tg, err := startRelay(&o)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	ld := fanoutLoad(&o, o.roomName("reject"), 0)
	ld.img = make([]byte, 1000) // zeros: no image format
	ld.frames = 5
	res, _, err := runFanout(context.Background(), tg, ld, &o)
	if !errors.Is(err, ErrScenarioFailed) {
		t.Fatalf("got %v, want ErrScenarioFailed", err)
	}
	if res.Rejected != 5 || res.Published != 0 {
		t.Errorf("rejected %d, published %d; want 5 and 0", res.Rejected, res.Published)
	}
}
