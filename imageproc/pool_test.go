package imageproc

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// blocker is a job that holds a worker until released.
type blocker struct {
	started chan struct{}
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocker) run() {
	close(b.started)
	<-b.release
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestPoolCoalescesLatestWins(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := NewPool(PoolConfig{Workers: 1})
	defer p.Close()

	blk := newBlocker()
	if err := p.Submit("busy", 0, blk.run); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, blk.started, "blocker to start")

	// Ten frames for one key arrive while the only worker is busy: only the
	// newest may run.
	var mu sync.Mutex
	var ran []int
	done := make(chan struct{})
	for i := 1; i <= 10; i++ {
		if err := p.Submit("src/640-jpeg", 0, func() {
			mu.Lock()
			ran = append(ran, i)
			mu.Unlock()
			close(done) // a second run would panic: "close of closed channel"
		}); err != nil {
			t.Fatal(err)
		}
	}
	if s := p.Stats(); s.Pending != 1 || s.Replaced != 9 {
		t.Errorf("got pending %d, replaced %d, want 1, 9", s.Pending, s.Replaced)
	}
	close(blk.release)
	waitClosed(t, done, "newest job")
	p.Close()
	if len(ran) != 1 || ran[0] != 10 {
		t.Errorf("ran %v, want [10]", ran)
	}
	if s := p.Stats(); s.Completed != 2 || s.Panicked != 0 {
		t.Errorf("got completed %d, panicked %d, want 2, 0", s.Completed, s.Panicked)
	}
}

// TestPoolOnePendingWhileRunning: a key has one job running and one
// waiting; newer submits replace the waiting one, and it does not start
// before the running one returns, even with an idle worker.
func TestPoolOnePendingWhileRunning(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := NewPool(PoolConfig{Workers: 2})
	defer p.Close()

	blk := newBlocker()
	if err := p.Submit("k", 0, blk.run); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, blk.started, "first job")
	var second, third atomic.Int32
	thirdDone := make(chan struct{})
	_ = p.Submit("k", 0, func() { second.Add(1) })
	_ = p.Submit("k", 0, func() { third.Add(1); close(thirdDone) })
	otherDone := make(chan struct{})
	_ = p.Submit("other", 0, func() { close(otherDone) })
	waitClosed(t, otherDone, "job of another key on the idle worker")
	time.Sleep(20 * time.Millisecond)
	if n := third.Load(); n != 0 {
		t.Fatalf("newest job of k started while k was running")
	}
	close(blk.release)
	waitClosed(t, thirdDone, "newest job")
	p.Close()
	if second.Load() != 0 || third.Load() != 1 {
		t.Errorf("second ran %d, third ran %d, want 0 and 1", second.Load(), third.Load())
	}
}

func TestPoolMaxPending(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := NewPool(PoolConfig{Workers: 1, MaxPending: 2})
	defer p.Close()
	blk := newBlocker()
	_ = p.Submit("busy", 0, blk.run)
	waitClosed(t, blk.started, "blocker")
	for _, k := range []string{"a", "b"} {
		if err := p.Submit(k, 0, func() {}); err != nil {
			t.Fatalf("Submit(%s) = %v, want nil", k, err)
		}
	}
	if err := p.Submit("c", 0, func() {}); !errors.Is(err, ErrPoolFull) {
		t.Errorf("Submit over the cap = %v, want ErrPoolFull", err)
	}
	// Replacing a waiting key is always allowed.
	if err := p.Submit("a", 0, func() {}); err != nil {
		t.Errorf("Submit replacing a waiting key = %v, want nil", err)
	}
	if s := p.Stats(); s.Rejected != 1 || s.Pending != 2 {
		t.Errorf("got rejected %d, pending %d, want 1, 2", s.Rejected, s.Pending)
	}
	close(blk.release)
}

// TestPoolMemoryBudget runs jobs whose costs allow at most two at once and
// checks that no more than two ever overlap, and that a job costing more
// than the whole budget is refused and never runs.
func TestPoolMemoryBudget(t *testing.T) {
	defer goleak.VerifyNone(t)
	const budget = 100
	p := NewPool(PoolConfig{Workers: 4, MemoryBudget: budget})
	defer p.Close()
	var running, peak, reserved, peakReserved atomic.Int64
	var wg sync.WaitGroup
	job := func(cost int64) func() {
		return func() {
			defer wg.Done()
			n := running.Add(1)
			r := reserved.Add(min(cost, budget))
			for {
				old := peak.Load()
				if n <= old || peak.CompareAndSwap(old, n) {
					break
				}
			}
			for {
				old := peakReserved.Load()
				if r <= old || peakReserved.CompareAndSwap(old, r) {
					break
				}
			}
			time.Sleep(2 * time.Millisecond)
			reserved.Add(-min(cost, budget))
			running.Add(-1)
		}
	}
	for i := range 20 {
		wg.Add(1)
		if err := p.Submit(fmt.Sprint("k", i), 40, job(40)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Submit("huge", 1000, func() { t.Error("the job over the budget ran") }); !errors.Is(err, ErrOverBudget) || Code(err) != CodeTooManyPixels {
		t.Fatalf("Submit over the budget = %v, want ErrOverBudget (too_many_pixels)", err)
	}
	wg.Wait()
	if got := peak.Load(); got > 2 {
		t.Errorf("peak concurrent jobs = %d, want <= 2 (budget %d, cost 40)", got, budget)
	}
	if got := peakReserved.Load(); got > budget {
		t.Errorf("peak reserved = %d, want <= %d", got, budget)
	}
}

func TestPoolCloseDropsPendingAndStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := NewPool(PoolConfig{Workers: 1})
	blk := newBlocker()
	_ = p.Submit("busy", 0, blk.run)
	waitClosed(t, blk.started, "blocker")
	var ran atomic.Int32
	for i := range 3 {
		_ = p.Submit(fmt.Sprint(i), 0, func() { ran.Add(1) })
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	// Close waits for the running job.
	select {
	case <-closed:
		t.Fatal("Close returned while a job was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(blk.release)
	waitClosed(t, closed, "Close")
	if ran.Load() != 0 {
		t.Errorf("%d dropped jobs ran, want 0", ran.Load())
	}
	if err := p.Submit("late", 0, func() {}); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Submit after Close = %v, want ErrPoolClosed", err)
	}
	if s := p.Stats(); s.Dropped != 3 || s.Rejected != 1 {
		t.Errorf("got dropped %d, rejected %d, want 3, 1", s.Dropped, s.Rejected)
	}
	p.Close() // idempotent
}

func TestPoolRecoversJobPanic(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := NewPool(PoolConfig{Workers: 1})
	defer p.Close()
	_ = p.Submit("a", 0, func() { panic("boom") })
	done := make(chan struct{})
	_ = p.Submit("b", 0, func() { close(done) })
	waitClosed(t, done, "job after a panic")
	p.Close()
	if s := p.Stats(); s.Panicked != 1 || s.Completed != 2 {
		t.Errorf("got panicked %d, completed %d, want 1, 2", s.Panicked, s.Completed)
	}
}

// TestPoolReencodeStream plays issue 3's "30 fps to a 640 px subscriber":
// frames for one (source, rendition) key arrive faster than they can be
// encoded. At most one job is ever waiting for the key, and the last
// rendition produced is the one of the last frame sent.
func TestPoolReencodeStream(t *testing.T) {
	defer goleak.VerifyNone(t)
	src := readTestdata(t, "canvas-1920x1080.png")
	in, err := Inspect(src, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{MaxWidth: 640, MaxHeight: 640}
	p := NewPool(PoolConfig{Workers: 2, MemoryBudget: MemoryCost(in, opt)})
	defer p.Close()

	const frames = 30
	var mu sync.Mutex
	last := -1
	var encodes atomic.Int32
	var wg sync.WaitGroup // the final frame's job
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for i := range frames {
		<-tick.C
		if i == frames-1 {
			wg.Add(1)
		}
		err := p.Submit("alice/640-auto", MemoryCost(in, opt), func() {
			if i == frames-1 {
				defer wg.Done()
			}
			res, err := Reencode(src, in, opt)
			if err != nil || res.Info.Width != 640 {
				t.Errorf("frame %d: %+v, %v", i, res.Info, err)
			}
			encodes.Add(1)
			mu.Lock()
			last = i
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		if s := p.Stats(); s.Pending > 1 {
			t.Fatalf("pending = %d after frame %d, want <= 1", s.Pending, i)
		}
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if last != frames-1 {
		t.Errorf("last encoded frame = %d, want %d", last, frames-1)
	}
	s := p.Stats()
	t.Logf("%d frames sent, %d encoded, %d replaced before they started", frames, encodes.Load(), s.Replaced)
	if int(encodes.Load())+int(s.Replaced) != frames {
		t.Errorf("encoded %d + replaced %d, want %d", encodes.Load(), s.Replaced, frames)
	}
}
