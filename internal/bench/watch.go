package bench

import (
	"context"
	"sync"
	"time"
)

// cutoffWatch follows the relay's count of slow-consumer disconnects (close
// code 4001) and its queued bytes on /metrics, every 100 ms.
type cutoffWatch struct {
	host   string
	stopCh chan struct{}
	done   chan struct{}

	mu        sync.Mutex // guards everything below
	ok        bool       // a scrape has worked
	base      float64    // the count before the run
	count     float64    // the rise since
	times     []time.Time
	maxQueued float64
}

const (
	metricDisconnects = "canvasrelay_disconnects_total"
	metricQueued      = "canvasrelay_queued_bytes"
	metricConns       = "canvasrelay_connections"
	metricReencodes   = "canvasrelay_reencodes_total"
	metricRendMisses  = "canvasrelay_rendition_cache_misses_total"
	metricRendHits    = "canvasrelay_rendition_cache_hits_total"
)

func startCutoffWatch(ctx context.Context, host string) *cutoffWatch {
	w := &cutoffWatch{host: host, stopCh: make(chan struct{}), done: make(chan struct{})}
	if m, err := scrape(ctx, host); err == nil {
		w.ok = true
		w.base = sumMetric(m, metricDisconnects, `code="4001"`)
	}
	go w.loop(ctx)
	return w
}

func (w *cutoffWatch) loop(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-w.stopCh:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m, err := scrape(ctx, w.host)
		if err != nil {
			continue
		}
		now := time.Now()
		w.mu.Lock()
		n := sumMetric(m, metricDisconnects, `code="4001"`)
		if !w.ok {
			w.ok, w.base = true, n
		}
		for rise := n - w.base; w.count < rise; w.count++ {
			w.times = append(w.times, now)
		}
		w.maxQueued = max(w.maxQueued, sumMetric(m, metricQueued))
		w.mu.Unlock()
	}
}

// waitFor waits until k cut-offs have been counted, or ctx ends.
func (w *cutoffWatch) waitFor(ctx context.Context, k int) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		w.mu.Lock()
		n := w.count
		w.mu.Unlock()
		if int(n) >= k {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *cutoffWatch) stop(start time.Time) *CutOff {
	close(w.stopCh)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	co := &CutOff{ServerCount: int(w.count), QueuedBytesMax: w.maxQueued, Metrics: w.ok}
	if len(w.times) > 0 {
		co.FirstSeconds = w.times[0].Sub(start).Seconds()
		co.LastSeconds = w.times[len(w.times)-1].Sub(start).Seconds()
	}
	return co
}
