package imageproc

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// PoolConfig configures a Pool. Zero fields take the documented defaults.
type PoolConfig struct {
	// Workers is the number of goroutines running jobs.
	// Default runtime.GOMAXPROCS(0).
	Workers int
	// MaxPending caps the number of distinct keys waiting to run. Since a
	// key has at most one pending job, this bounds the queue. Submit for a
	// new key beyond it returns ErrPoolFull. Default 1024.
	MaxPending int
	// MemoryBudget caps the sum of the costs of the jobs running at once
	// (for Reencode, MemoryCost). A job whose cost exceeds the whole budget
	// is refused (ErrOverBudget). Default 256 MiB.
	MemoryBudget int64
}

// Pool runs jobs on a fixed set of workers with latest-wins coalescing per
// key: while a job for key k is still waiting, a newer Submit for k replaces
// it (the older one never runs), keeping its place in the queue. Jobs of one
// key run one at a time, in submission order, so results for a key are
// produced in order and the last one is for the newest job. A key thus has
// at most one job waiting and one running. Use the key for "(source client,
// rendition)": a subscriber then never waits behind stale frames, and work
// for one key never queues behind many jobs for another. Workers skip keys
// that are running and take the oldest waiting key that is not.
//
// Memory: before running a job a worker reserves its cost from a FIFO
// weighted semaphore of MemoryBudget bytes, so concurrent decodes never
// reserve more than the budget together: a job waits (queues) until its
// cost fits, and one that could never fit is refused at Submit.
//
// A replaced job, or one dropped by Close, never runs: callers must not wait
// for a particular job, only for the newest of its key.
type Pool struct {
	// Static after construction.
	maxPending int
	mem        *memSemaphore
	wg         sync.WaitGroup
	closeOnce  sync.Once

	// Guarded by mu.
	mu      sync.Mutex
	cond    *sync.Cond          // signalled when queue grows, a key finishes, or closed is set
	pending map[string]*poolJob // key -> its waiting job
	queue   []string            // keys of pending, in arrival order
	running map[string]bool     // keys whose job is running
	closed  bool

	stats poolCounters
}

type poolJob struct {
	cost int64
	run  func()
}

type poolCounters struct {
	submitted, replaced, rejected, completed, panicked, dropped atomic.Uint64
}

// PoolStats are cumulative counters plus the current queue length.
type PoolStats struct {
	Submitted uint64 // Submit calls that queued or replaced a job
	Replaced  uint64 // waiting jobs superseded by a newer one for the same key
	Rejected  uint64 // Submit calls refused: pool full or closed, job over the budget
	Completed uint64 // jobs that ran (panicked ones included)
	Panicked  uint64 // jobs that panicked (the panic is recovered)
	Dropped   uint64 // waiting jobs discarded by Close
	Pending   int    // keys waiting now
}

// NewPool starts the workers. Call Close to stop them.
func NewPool(cfg PoolConfig) *Pool {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1024
	}
	if cfg.MemoryBudget <= 0 {
		cfg.MemoryBudget = 256 << 20
	}
	p := &Pool{
		maxPending: cfg.MaxPending,
		mem:        newMemSemaphore(cfg.MemoryBudget),
		pending:    make(map[string]*poolJob),
		running:    make(map[string]bool),
	}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(cfg.Workers)
	for range cfg.Workers {
		go p.worker()
	}
	return p
}

// Submit queues job under key with a memory cost in bytes. If a job for key
// is already waiting, job replaces it. It never blocks on running work: it
// returns ErrPoolFull when MaxPending other keys are waiting, ErrPoolClosed
// after Close, and an ErrOverBudget when cost exceeds the whole
// MemoryBudget.
func (p *Pool) Submit(key string, cost int64, job func()) error {
	if cost > p.mem.size {
		p.stats.rejected.Add(1)
		return newErr(ErrOverBudget, nil, "decoding it takes about %d MiB, over the whole decode memory budget of %d MiB", cost>>20, p.mem.size>>20)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.stats.rejected.Add(1)
		return ErrPoolClosed
	}
	if j, ok := p.pending[key]; ok {
		j.cost, j.run = cost, job
		p.stats.replaced.Add(1)
		p.stats.submitted.Add(1)
		return nil
	}
	if len(p.pending) >= p.maxPending {
		p.stats.rejected.Add(1)
		return ErrPoolFull
	}
	p.pending[key] = &poolJob{cost: cost, run: job}
	p.queue = append(p.queue, key)
	p.stats.submitted.Add(1)
	p.cond.Signal()
	return nil
}

// Close stops accepting jobs, drops the waiting ones (counted in Dropped),
// and waits for the running ones to return. It is safe to call more than once.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.stats.dropped.Add(uint64(len(p.pending)))
		clear(p.pending)
		p.queue = nil
		p.cond.Broadcast()
		p.mu.Unlock()
		p.mem.close()
	})
	p.wg.Wait()
}

// Stats returns a snapshot of the counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	n := len(p.pending)
	p.mu.Unlock()
	return PoolStats{
		Submitted: p.stats.submitted.Load(),
		Replaced:  p.stats.replaced.Load(),
		Rejected:  p.stats.rejected.Load(),
		Completed: p.stats.completed.Load(),
		Panicked:  p.stats.panicked.Load(),
		Dropped:   p.stats.dropped.Load(),
		Pending:   n,
	}
}

func (p *Pool) worker() {
	defer p.wg.Done()
	for {
		key, j, ok := p.next()
		if !ok {
			return
		}
		cost := min(max(j.cost, 0), p.mem.size)
		if !p.mem.acquire(cost) {
			p.stats.dropped.Add(1) // closed while waiting for memory
			p.done(key)
			return
		}
		p.runJob(j.run)
		p.mem.release(cost)
		p.done(key)
	}
}

// done marks key as no longer running, so its waiting job may start.
func (p *Pool) done(key string) {
	p.mu.Lock()
	delete(p.running, key)
	p.cond.Broadcast()
	p.mu.Unlock()
}

// next blocks until a job whose key is not running is waiting, or the pool
// is closed. It marks the key running.
func (p *Pool) next() (string, *poolJob, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return "", nil, false
		}
		for i, key := range p.queue {
			if p.running[key] {
				continue
			}
			p.queue = slices.Delete(p.queue, i, i+1)
			j := p.pending[key]
			delete(p.pending, key)
			p.running[key] = true
			return key, j, true
		}
		p.cond.Wait()
	}
}

func (p *Pool) runJob(run func()) {
	defer func() {
		if r := recover(); r != nil {
			p.stats.panicked.Add(1)
		}
		p.stats.completed.Add(1)
	}()
	run()
}

// memSemaphore is a weighted semaphore that serves waiters in arrival order
// (a large reservation is not starved by a stream of small ones) and that
// can be closed to release every waiter.
type memSemaphore struct {
	size int64 // static

	mu      sync.Mutex
	cond    *sync.Cond
	used    int64  // guarded by mu
	next    uint64 // next ticket to hand out; guarded by mu
	serving uint64 // ticket allowed to reserve now; guarded by mu
	closed  bool   // guarded by mu
}

func newMemSemaphore(size int64) *memSemaphore {
	s := &memSemaphore{size: size}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// acquire reserves n <= size bytes, waiting for its turn and for room. It
// returns false if the semaphore was closed.
func (s *memSemaphore) acquire(n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.next
	s.next++
	for !s.closed && (t != s.serving || s.used+n > s.size) {
		s.cond.Wait()
	}
	if s.closed {
		return false
	}
	s.used += n
	s.serving++
	s.cond.Broadcast()
	return true
}

func (s *memSemaphore) release(n int64) {
	s.mu.Lock()
	s.used -= n
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *memSemaphore) close() {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
}
