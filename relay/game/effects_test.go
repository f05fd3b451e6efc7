package game

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// blockingRoom records the effects carried out on it; ClearLayers waits
// until release is closed.
type blockingRoom struct {
	relay.GameRoom // nil: only the methods below are called
	entered        chan struct{}
	release        chan struct{}

	mu  sync.Mutex
	log []string
}

func (r *blockingRoom) note(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *blockingRoom) Broadcast(ev []byte) { r.note(string(ev)) }
func (r *blockingRoom) ClearLayers() {
	close(r.entered)
	<-r.release
	r.note("clear")
}

// TestOutboxOrderAndBound: effects are carried out in the order they were
// decided, by one goroutine at a time; a caller whose effects queue behind
// a blocked one returns at once, and its effects follow; past maxPending
// the queue drops instead of growing.
func TestOutboxOrderAndBound(t *testing.T) {
	room := &blockingRoom{entered: make(chan struct{}), release: make(chan struct{})}
	o := newOutbox(room)
	o.emit(effect{op: opBroadcast, event: []byte("a")})
	o.emit(effect{op: opClearLayers})
	o.emit(effect{op: opBroadcast, event: []byte("b")})
	first := make(chan int)
	go func() { first <- o.flush() }()
	<-room.entered // the first flush is blocked in ClearLayers

	start := time.Now()
	for i := range maxPending + 10 {
		o.emit(effect{op: opBroadcast, event: fmt.Appendf(nil, "c%d", i)})
	}
	if n := o.flush(); n != 0 {
		t.Errorf("a flush behind a busy one reported %d dropped, want 0 (the busy one reports)", n)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("emitting and flushing behind a blocked flush took %s: it waited", took)
	}
	close(room.release)
	if dropped := <-first; dropped != 10 {
		t.Errorf("dropped %d effects over the bound, want 10", dropped)
	}
	room.mu.Lock()
	defer room.mu.Unlock()
	want := []string{"a", "clear", "b", "c0", "c1"}
	if len(room.log) != 3+maxPending || fmt.Sprint(room.log[:5]) != fmt.Sprint(want) {
		t.Fatalf("carried out %d effects starting %v, want %d starting %v", len(room.log), room.log[:min(5, len(room.log))], 3+maxPending, want)
	}
}

// TestOutboxFlushWait: flushWait returns only once the effects queued
// before it are carried out, even by another goroutine (a late joiner's
// start and turn are queued before its writer starts).
func TestOutboxFlushWait(t *testing.T) {
	room := &blockingRoom{entered: make(chan struct{}), release: make(chan struct{})}
	o := newOutbox(room)
	o.emit(effect{op: opClearLayers})
	go o.flush()
	<-room.entered
	o.emit(effect{op: opBroadcast, event: []byte("start")})
	waited := make(chan struct{})
	go func() {
		o.flushWait()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("flushWait returned while its effect was still queued behind a blocked one")
	case <-time.After(50 * time.Millisecond):
	}
	close(room.release)
	select {
	case <-waited:
	case <-time.After(wait):
		t.Fatal("flushWait never returned")
	}
	room.mu.Lock()
	defer room.mu.Unlock()
	if fmt.Sprint(room.log) != "[clear start]" {
		t.Fatalf("carried out %v, want [clear start]", room.log)
	}
}
