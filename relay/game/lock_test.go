package game

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// slowClearBroker is the in-memory broker whose ClearLayers blocks for
// block, as a NATS stream purge may when NATS is slow.
type slowClearBroker struct {
	*relay.MemoryBroker
	block   time.Duration
	entered chan struct{} // closed when the first ClearLayers begins
	done    atomic.Bool   // the first ClearLayers has returned
	calls   atomic.Int32
}

func (b *slowClearBroker) ClearLayers(ctx context.Context, room string) error {
	first := b.calls.Add(1) == 1
	if first {
		close(b.entered)
	}
	time.Sleep(b.block)
	if first {
		b.done.Store(true)
	}
	return b.MemoryBroker.ClearLayers(ctx, room)
}

// TestClearLayersOutsideTheGameLock: a turn clears the room's layers (with
// NATS, a stream purge of up to 3 s), and that never runs under the game's
// lock. With a broker whose ClearLayers blocks for 2 s, the drawer's frames
// sent while it blocks are answered at once (within 50 ms on an idle
// machine; the check allows 1 s for a loaded one, still well inside the
// 2 s block, and checks that the block was still on).
func TestClearLayersOutsideTheGameLock(t *testing.T) {
	const block = 2 * time.Second
	b := &slowClearBroker{MemoryBroker: relay.NewMemoryBroker(relay.MemoryBrokerConfig{}), block: block, entered: make(chan struct{})}
	cfg := testConfig("giraffe", "volcano")
	cfg.Intn = firstWord
	cfg.Second = 100 * time.Millisecond
	f := startRelayWith(t, cfg, relay.Config{Broker: b})
	a := f.join("slow", "alice", "Alice") // draws first
	bob := f.join("slow", "bob", "Bob")
	bob.start(`,"seconds":180`) // Bob's goroutine carries out the first turn's clear
	a.expectGame("start")
	select {
	case <-b.entered:
	case <-time.After(wait):
		t.Fatal("the first turn never cleared the layers")
	}
	img := tinyPNG(t)
	var worst time.Duration
	for i := 1; i <= 5; i++ {
		sent := time.Now()
		a.sendBinary(img)
		var m msg
		for m = a.next(wait); m.typ() != "ack"; m = a.next(wait) {
			if m.typ() != "presence" && m.typ() != "game" {
				t.Fatalf("Alice: got %s, want ack %d", m, i)
			}
		}
		took := time.Since(sent)
		worst = max(worst, took)
		if num(m.ev, "seq") != i {
			t.Fatalf("got %s, want ack %d", m, i)
		}
		if b.done.Load() {
			t.Fatalf("frame %d was answered after %s, once the 2 s ClearLayers had ended: it waited on the game", i, took)
		}
	}
	t.Logf("5 frames from the drawer answered during a %s ClearLayers; slowest %s", block, worst)
	if worst > time.Second {
		t.Errorf("slowest answer %s, want well under the %s block", worst, block)
	}
	if m := a.expectGame("turn"); str(m.ev, "word") != "giraffe" { // after the clear
		t.Errorf("Alice: got %s, want her turn with the word", m)
	}
	bob.send(`{"type":"game","action":"stop"}`)
	f.waitIdle()
}
