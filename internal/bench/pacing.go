package bench

import (
	"context"
	"errors"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/client"
)

// sleepUntil waits for t or ctx; it reports whether t came first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitSlowest waits until every subscriber has frame seq (or a later one),
// woken by moved. It reports false when ctx ended first.
func waitSlowest(ctx context.Context, subs []*subscriber, moved <-chan struct{}, seq int64) bool {
	for {
		low := true
		for _, s := range subs {
			if s.maxSeq.Load() < seq {
				low = false
				break
			}
		}
		if low {
			return true
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return false
		}
	}
}

// waitDelivered waits until every subscriber has the frame with seq last
// (or a later one). It reports false when ctx ended first.
func waitDelivered(ctx context.Context, subs []*subscriber, last int64) bool {
	if last == 0 {
		return true
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		all := true
		for _, s := range subs {
			if s.maxSeq.Load() < last {
				all = false
				break
			}
		}
		if all {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// ackCollector waits for the answers to the published frames, in order.
type ackCollector struct {
	ch      chan *client.Pending // the publisher's frames, in seq order
	waitCtx chan context.Context // wait hands over the bound for late answers
	done    chan struct{}        // closed when every answer is in

	// Owned by run until done is closed.
	acked, rejected, lost int
	last                  time.Time // when the last ack came in
	lastSeq               int64     // the seq of the last frame acked
	seqs                  []int64   // the seqs acked
}

func newAckCollector(frames int) *ackCollector {
	a := &ackCollector{ch: make(chan *client.Pending, frames), done: make(chan struct{}), waitCtx: make(chan context.Context, 1)}
	go a.run()
	return a
}

func (a *ackCollector) run() {
	defer close(a.done)
	var ctx context.Context
	for p := range a.ch {
		var err error
		if ctx == nil {
			select {
			case <-p.Done():
			case ctx = <-a.waitCtx:
			}
		}
		if ctx != nil {
			_, err = p.Wait(ctx)
		} else {
			_, err = p.Result()
		}
		switch {
		case err == nil:
			a.acked++
			a.last = time.Now()
			a.lastSeq = p.Seq
			a.seqs = append(a.seqs, p.Seq)
		case errors.Is(err, client.ErrRejected):
			a.rejected++
		default:
			a.lost++
		}
	}
}

// wait lets answers still missing time out with ctx, and waits for all.
func (a *ackCollector) wait(ctx context.Context) {
	a.waitCtx <- ctx
	<-a.done
}
