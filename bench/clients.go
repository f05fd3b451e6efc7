package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/client"
)

// closeWait bounds how long closing the bench's clients may take.
const closeWait = 10 * time.Second

// forEach runs f(i) for i in [0, n) on at most conc goroutines and returns
// the first error. After an error no new call starts.
func forEach(n, conc int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for w := 0; w < max(1, min(conc, n)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// dialSubscribers connects n fast subscribers, like proto, with the
// project's client or the lite reader (o.Reader), and starts their readers.
// On error it returns those that connected, for the caller to close.
func dialSubscribers(ctx context.Context, base, path string, n int, groups []subGroup, proto *subscriber, o *Options) ([]*subscriber, error) {
	subs := make([]*subscriber, n)
	err := forEach(n, o.Concurrency, func(i int) error {
		u := base + path
		var rend *rendSpec
		if len(groups) > 0 {
			g := groups[i%len(groups)]
			if g.base != "" {
				u = g.base + path
			}
			if rend = g.rend; rend != nil {
				u += "?" + rend.Query
			}
		}
		s := &subscriber{byOrder: proto.byOrder, limit: proto.limit, moved: proto.moved, rend: rend, done: make(chan struct{})}
		id := fmt.Sprintf("bench-sub-%d", i)
		if o.Reader == ReaderLite {
			lc, err := dialLite(ctx, u, id, s)
			if err != nil {
				return fmt.Errorf("%w: dial subscriber %d: %w", ErrScenarioFailed, i, err)
			}
			s.conn = lc
			subs[i] = s
			return nil
		}
		c, err := client.Dial(ctx, client.Config{
			URL:         u,
			ClientID:    id,
			Window:      1,
			FrameBuffer: 1024, // the reader only records; it never falls this far behind
			Logger:      o.Logger,
		})
		if err != nil {
			return fmt.Errorf("%w: dial subscriber %d: %w", ErrScenarioFailed, i, err)
		}
		s.conn = clientConn{c}
		subs[i] = s
		go func() {
			defer close(s.done)
			for f := range c.Frames() {
				s.record(f.Info, len(f.Data), f.Received)
			}
		}()
		return nil
	})
	out := subs[:0]
	for _, s := range subs {
		if s != nil {
			out = append(out, s)
		}
	}
	return out, err
}

// closeClients closes the subscribers (close 1000) in parallel, waiting at
// most closeWait: a server that does not answer is shut down afterwards.
func closeClients(subs []*subscriber, o *Options) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = forEach(len(subs), max(o.Concurrency, 16), func(i int) error { return subs[i].conn.Close() })
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
		o.Logger.Warn("closing subscribers took too long; going on")
	}
}

// clientConn is a subscriber on the project's client.
type clientConn struct{ c *client.Client }

func (c clientConn) Close() error    { return c.c.Close() }
func (c clientConn) Dropped() uint64 { return c.c.Stats().DroppedFrames }

// stalledConn is a subscriber that never reads.
type stalledConn struct {
	nc       net.Conn
	leftover []byte
}

// stalledRcvBuf is the receive buffer of a stalled subscriber's socket: small,
// so that the server's writes to it block soon.
const stalledRcvBuf = 4 << 10

// dialStalled connects k subscribers that never read.
func dialStalled(ctx context.Context, host, path string, k, conc int) ([]*stalledConn, error) {
	out := make([]*stalledConn, k)
	err := forEach(k, conc, func(i int) error {
		nc, left, err := dialRaw(ctx, host, path+"?client="+url.QueryEscape(fmt.Sprintf("bench-stalled-%d", i)), stalledRcvBuf)
		if err != nil {
			return fmt.Errorf("%w: dial stalled subscriber %d: %w", ErrScenarioFailed, i, err)
		}
		out[i] = &stalledConn{nc: nc, leftover: left}
		return nil
	})
	res := out[:0]
	for _, s := range out {
		if s != nil {
			res = append(res, s)
		}
	}
	return res, err
}

// drainStalled reads what each stalled subscriber was sent, to see whether
// the server closed it and with which close frame. Only the relay is read:
// the floor never closes anyone, and reading would only un-stall it.
func drainStalled(stalled []*stalledConn, read bool, co *CutOff, k int) *CutOff {
	if k == 0 {
		return co
	}
	if co == nil {
		co = &CutOff{}
	}
	co.Stalled = k
	if !read {
		return co
	}
	var mu sync.Mutex
	deadline := time.Now().Add(2 * time.Second)
	_ = forEach(len(stalled), len(stalled), func(i int) error {
		r := drainRaw(stalled[i].nc, stalled[i].leftover, deadline)
		mu.Lock()
		defer mu.Unlock()
		if r.Ended || r.CloseCode != 0 {
			co.Closed++
		}
		if r.CloseCode != 0 {
			if co.CloseCodes == nil {
				co.CloseCodes = map[int]int{}
			}
			co.CloseCodes[r.CloseCode]++
		}
		return nil
	})
	return co
}

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
