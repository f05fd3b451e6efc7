package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/client"
	"github.com/canvasrelay/canvasrelay/relay/wire"
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
		nc, left, err := dialRaw(ctx, host, path+"?"+wire.QueryClient+"="+url.QueryEscape(fmt.Sprintf("bench-stalled-%d", i)), stalledRcvBuf)
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
