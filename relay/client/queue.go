package client

import "sync"

// queue is a FIFO bounded in count and bytes that never blocks its producer:
// when full it drops the oldest entries (fresher data wins) and counts them.
// A pump goroutine (run) moves entries to an unbuffered output channel, so at
// most one entry beyond the bound is held, in the pump's hand.
type queue[T any] struct {
	out    chan T        // Static after construction; closed when run returns.
	notify chan struct{} // Static; capacity 1, poked by push.

	maxItems int // Static.
	maxBytes int // Static; an entry bigger than this is still kept, alone.

	mu      sync.Mutex // Guards the fields below.
	items   []queued[T]
	bytes   int
	dropped uint64
}

type queued[T any] struct {
	v    T
	size int
}

func newQueue[T any](maxItems, maxBytes int) *queue[T] {
	return &queue[T]{
		out:      make(chan T),
		notify:   make(chan struct{}, 1),
		maxItems: maxItems,
		maxBytes: maxBytes,
	}
}

// push adds v and returns how many old entries it pushed out.
func (q *queue[T]) push(v T, size int) int {
	q.mu.Lock()
	n := 0
	for len(q.items) > 0 && (len(q.items)+1 > q.maxItems || q.bytes+size > q.maxBytes) {
		q.bytes -= q.items[0].size
		var zero queued[T]
		q.items[0] = zero
		q.items = q.items[1:]
		n++
	}
	q.items = append(q.items, queued[T]{v, size})
	q.bytes += size
	q.dropped += uint64(n)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return n
}

func (q *queue[T]) pop() (T, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		var zero T
		return zero, false
	}
	it := q.items[0]
	var zero queued[T]
	q.items[0] = zero
	q.items = q.items[1:]
	q.bytes -= it.size
	if len(q.items) == 0 {
		q.items = nil // let the backing array go
	}
	return it.v, true
}

func (q *queue[T]) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0
}

// droppedCount returns the number of entries dropped so far.
func (q *queue[T]) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// run pumps entries to q.out, then closes q.out. It returns when stop is
// closed (entries still queued are discarded), or when finish is closed and
// the queue is empty (no more pushes may follow finish).
func (q *queue[T]) run(finish, stop <-chan struct{}) {
	defer close(q.out)
	for {
		v, ok := q.pop()
		if !ok {
			select {
			case <-q.notify:
				continue
			case <-finish:
				if q.empty() {
					return
				}
			case <-stop:
				return
			}
		}
		select {
		case q.out <- v:
		case <-stop:
			return
		}
	}
}
