package natsbroker

import "sync"

// dedupe remembers the last n message ids it was shown, in a ring, so that
// a message that reaches a node twice (a local fallback delivery that also
// got through NATS, a redelivery in a NATS cluster) is delivered once. Its
// memory is fixed: n ids.
type dedupe struct {
	mu   sync.Mutex // guards everything below
	ring []string   // ids, oldest at next once full
	next int
	set  map[string]struct{}
}

func newDedupe(n int) *dedupe {
	return &dedupe{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

// first records id and reports whether it was not already in the window.
// An empty id is never a duplicate.
func (d *dedupe) first(id string) bool {
	if id == "" {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.set[id]; ok {
		return false
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.set, old)
	}
	d.ring[d.next] = id
	d.set[id] = struct{}{}
	d.next = (d.next + 1) % len(d.ring)
	return true
}
