package relay

import (
	"fmt"
	"slices"
	"testing"
)

// testLog builds a layer log of client: a full frame at ts and n patches,
// as the memory broker links them.
func testLog(t *testing.T, client string, ts int64, seq uint64, n int) []*Envelope {
	t.Helper()
	full := testEnvelope(client, ts, seq)
	full.Width, full.Height = 100, 100
	l := NewLog(full)
	for i := range n {
		p := testEnvelope(client, ts+1+int64(i), seq+1+uint64(i))
		p.Patch = &PatchRect{X: 1, Y: 1, Width: 2, Height: 2}
		if _, err := l.Append(p); err != nil {
			t.Fatalf("appendPatch: %v", err)
		}
	}
	return l.entries
}

// drainSeqs pops everything and returns "client:seq" of each frame.
func drainSeqs(q *outQueue) []string {
	q.start()
	var out []string
	for {
		it, ok := q.pop()
		if !ok {
			return out
		}
		if it.env != nil {
			out = append(out, fmt.Sprintf("%s:%d", it.env.Client, it.env.Seq))
		}
	}
}

func TestQueuePatches(t *testing.T) {
	t.Run("patches append, a full frame replaces them", func(t *testing.T) {
		q := newOutQueue(1<<20, 1<<20)
		log := testLog(t, "a", 10, 1, 3)
		for _, e := range log {
			if r := q.pushFrame(e); !r.queued || r.superseded != 0 {
				t.Fatalf("seq %d: got %+v, want queued, nothing superseded", e.Seq, r)
			}
		}
		if st := q.stats(); st.Frames != 4 {
			t.Fatalf("pending: got %d frames, want 4 (no patch replaces another)", st.Frames)
		}
		next := testLog(t, "a", 20, 5, 1)
		if r := q.pushFrame(next[0]); r.superseded != 4 {
			t.Fatalf("a new full frame superseded %d, want 4", r.superseded)
		}
		q.pushFrame(next[1])
		if got, want := drainSeqs(q), []string{"a:5", "a:6"}; !slices.Equal(got, want) {
			t.Fatalf("written: got %v, want %v", got, want)
		}
	})
	t.Run("no duplicate, no gap", func(t *testing.T) {
		q := newOutQueue(1<<20, 1<<20)
		log := testLog(t, "a", 10, 1, 4)
		q.pushFrame(log[0])
		q.pushFrame(log[1])
		if q.pushFrame(log[1]).queued {
			t.Fatal("a patch queued twice")
		}
		q.pushFrame(log[3]) // log[2] was not delivered yet: it comes from log[3]'s prefix
		if q.pushFrame(log[2]).queued {
			t.Fatal("a patch already taken from a prefix queued again")
		}
		q.pushFrame(log[4])
		if got, want := drainSeqs(q), []string{"a:1", "a:2", "a:3", "a:4", "a:5"}; !slices.Equal(got, want) {
			t.Fatalf("written: got %v, want %v", got, want)
		}
	})
	t.Run("a patch of an unknown source brings its log", func(t *testing.T) {
		q := newOutQueue(1<<20, 1<<20)
		log := testLog(t, "a", 10, 1, 3)
		q.pushFrame(log[2])
		if got, want := drainSeqs(q), []string{"a:1", "a:2", "a:3"}; !slices.Equal(got, want) {
			t.Fatalf("written: got %v, want %v", got, want)
		}
	})
	t.Run("a patch of an older log is refused", func(t *testing.T) {
		q := newOutQueue(1<<20, 1<<20)
		old := testLog(t, "a", 10, 1, 2)
		q.pushFrame(testLog(t, "a", 20, 9, 0)[0])
		if q.pushFrame(old[2]).queued {
			t.Fatal("a patch of an older log was queued")
		}
	})
	t.Run("a late joiner's log and live patches interleave in order", func(t *testing.T) {
		log := testLog(t, "a", 10, 1, 3)
		// Live patch 1 arrived before the layers were read.
		q := newOutQueue(1<<20, 1<<20)
		q.pushFrame(log[1])
		if _, _, overflow := q.addLayers(log[:3], 0); overflow {
			t.Fatal("overflow")
		}
		q.pushFrame(log[3])
		if got, want := drainSeqs(q), []string{"a:1", "a:2", "a:3", "a:4"}; !slices.Equal(got, want) {
			t.Fatalf("live first: got %v, want %v", got, want)
		}
		// Layers first, then live patches: those already in the layers
		// are refused, the next goes after them.
		q = newOutQueue(1<<20, 1<<20)
		q.addLayers(log[:3], 0)
		if q.pushFrame(log[2]).queued {
			t.Fatal("a live copy of a pending layer was queued")
		}
		q.pushFrame(log[3])
		if st := q.stats(); st.Layers != 3 || st.Frames != 1 {
			t.Fatalf("pending: got %+v, want 3 layers and 1 frame", st)
		}
		if got, want := drainSeqs(q), []string{"a:1", "a:2", "a:3", "a:4"}; !slices.Equal(got, want) {
			t.Fatalf("layers first: got %v, want %v", got, want)
		}
	})
	t.Run("patches over the cap overflow instead of being dropped", func(t *testing.T) {
		log := testLog(t, "a", 10, 1, 5)
		q := newOutQueue(1<<20, 3*log[0].size())
		for i, e := range log {
			r := q.pushFrame(e)
			if i < 3 && !r.queued {
				t.Fatalf("frame %d refused under the cap", i)
			}
			if i == 3 {
				if !r.overflow {
					t.Fatalf("frame %d over the cap: got %+v, want overflow", i, r)
				}
				return
			}
		}
	})
}
