package imageproc

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A decode over its budget ends at its next read: the worst input per
// byte, a progressive JPEG of EOB runs at the scan limit (a full decode of
// about a second), is abandoned soon after a 20 ms deadline.
func TestDeadlineStopsDecode(t *testing.T) {
	b := scanBomb(t, MaxJPEGScans)
	in, err := Inspect(b, Limits{})
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"verify", func(ctx context.Context) error { return VerifyContext(ctx, b, in) }},
		{"reencode", func(ctx context.Context) error {
			_, err := ReencodeContext(ctx, b, in, Options{MaxWidth: 64})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			t0 := time.Now()
			err := tc.run(ctx)
			d := time.Since(t0)
			if !errors.Is(err, ErrTimeout) || Code(err) != CodeInvalidImage {
				t.Fatalf("got %v, want ErrTimeout (invalid_image)", err)
			}
			t.Logf("abandoned after %s", d)
			// The full decode takes ~1 s (several under -race); a stuck
			// decode would run to its end.
			if d > 5*time.Second {
				t.Errorf("abandoned after %s, want soon after the 20 ms deadline", d)
			}
		})
	}
}

// Within its budget, the same work succeeds: the deadline reader changes
// nothing but the timing of failure.
func TestDeadlineLeavesGoodWorkAlone(t *testing.T) {
	b := readTestdata(t, "canvas-1920x1080.png")
	in, err := Inspect(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := ReencodeContext(ctx, b, in, Options{MaxWidth: 640, Format: OutputJPEG})
	if err != nil || res.Info.Width != 640 {
		t.Fatalf("got %+v, %v; want a 640-wide jpeg", res.Info, err)
	}
	if err := VerifyContext(ctx, b, in); err != nil {
		t.Fatalf("VerifyContext = %v", err)
	}
}

// A CPU budget counts the job's own CPU time, not the time it waits: a job
// that sleeps past its budget keeps it, and one that computes uses it up.
// Outside Linux the budget is wall time, and sleeping uses it up too.
func TestCPUBudget(t *testing.T) {
	_, cpuClock := threadCPU()
	ctx, release := WithCPUBudget(context.Background(), 30*time.Millisecond)
	defer release()
	time.Sleep(80 * time.Millisecond) // no CPU used
	if err := jobErr(ctx); (err != nil) == cpuClock {
		t.Fatalf("after sleeping past the budget: %v (thread CPU clock: %v)", err, cpuClock)
	}
	t0 := time.Now()
	x := 0
	for jobErr(ctx) == nil && time.Since(t0) < 20*time.Second {
		for i := range 100000 {
			x += i
		}
	}
	if err := jobErr(ctx); err == nil {
		t.Fatalf("20 s of computing did not use up a 30 ms CPU budget (%d)", x)
	}
	t.Logf("budget used up after %s of computing", time.Since(t0))
}

// A decode under a CPU budget is abandoned like one under a deadline.
func TestCPUBudgetStopsDecode(t *testing.T) {
	b := scanBomb(t, MaxJPEGScans)
	in, err := Inspect(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, release := WithCPUBudget(context.Background(), 20*time.Millisecond)
	defer release()
	t0 := time.Now()
	_, err = ReencodeContext(ctx, b, in, Options{MaxWidth: 64})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	t.Logf("abandoned after %s", time.Since(t0))
}
