package imageproc

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
)

// errCPUBudget is the cause of an ErrTimeout when a job used up its CPU
// budget.
var errCPUBudget = errors.New("CPU budget used up")

// cpuBudget is the CPU time one job may use on the OS thread it is locked
// to. Checks are cheap: the thread's CPU time is never more than the wall
// time since the start, so it is only read (one getrusage call) once the
// wall time has passed the limit, and then at most once a millisecond.
type cpuBudget struct {
	limit    time.Duration
	start    time.Duration // thread CPU time at the start
	wall0    time.Time
	mu       sync.Mutex
	next     time.Time // wall time of the next CPU read
	exceeded bool
}

type budgetKey struct{}

// WithCPUBudget returns a context for one image job (VerifyContext,
// ReencodeContext) that may use d of CPU time, and a release function to
// call when the job is done, on the same goroutine. The job must run on the
// calling goroutine: WithCPUBudget locks it to its OS thread (released by
// release) and counts that thread's CPU time, so waiting for a CPU on a
// loaded machine does not count, and only the job's own work (its decode,
// resize and encode, and the garbage collection it assists) does. Where a
// thread's CPU time cannot be read (outside Linux) the budget is wall-clock
// time, as with context.WithTimeout. A job over its budget fails with
// ErrTimeout (see deadline.go for how a running decode is stopped).
func WithCPUBudget(parent context.Context, d time.Duration) (context.Context, func()) {
	if _, ok := threadCPU(); !ok {
		return context.WithTimeout(parent, d)
	}
	runtime.LockOSThread()
	start, _ := threadCPU() // on the thread the job now stays on
	now := time.Now()
	b := &cpuBudget{limit: d, start: start, wall0: now, next: now.Add(d)}
	return context.WithValue(parent, budgetKey{}, b), runtime.UnlockOSThread
}

// check reports whether the budget is used up.
func (b *cpuBudget) check() bool {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.exceeded || now.Before(b.next) {
		return b.exceeded
	}
	b.next = now.Add(time.Millisecond)
	if cpu, ok := threadCPU(); ok && cpu-b.start >= b.limit {
		b.exceeded = true
	}
	return b.exceeded
}

// jobErr returns ctx's error, or errCPUBudget when its CPU budget is used
// up, or nil.
func jobErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b, _ := ctx.Value(budgetKey{}).(*cpuBudget); b != nil && b.check() {
		return errCPUBudget
	}
	return nil
}
