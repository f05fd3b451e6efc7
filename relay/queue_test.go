package relay

import "testing"

func testEnvelope(client string, ts int64, seq uint64) *Envelope {
	env := NewFrameEnvelope([]byte(`{"type":"frame"}`), make([]byte, 100))
	env.Client, env.TS, env.Seq = client, ts, seq
	return env
}

// A late joiner's retained layer never duplicates, nor goes back behind, a
// live frame of the same source that was queued while the layers were
// being fetched (a cluster broker fetches them over the network).
func TestQueueLayerAfterLiveFrame(t *testing.T) {
	for _, tc := range []struct {
		name      string
		live      *Envelope
		layer     *Envelope
		wantItems int // frames written in all
	}{
		{"same frame", testEnvelope("a", 10, 3), testEnvelope("a", 10, 3), 1},
		{"older layer", testEnvelope("a", 20, 4), testEnvelope("a", 10, 3), 1},
		{"newer layer", testEnvelope("a", 10, 3), testEnvelope("a", 20, 4), 2},
		{"other source", testEnvelope("a", 10, 3), testEnvelope("b", 10, 3), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newOutQueue(1<<20, 1<<20)
			if _, overflow, _, _ := q.pushFrame(tc.live); overflow {
				t.Fatal("overflow")
			}
			if q.pushLayer(tc.layer) {
				t.Fatal("overflow")
			}
			q.start()
			n := 0
			for {
				it, ok := q.pop()
				if !ok {
					break
				}
				if it.env != nil {
					n++
				}
			}
			if n != tc.wantItems {
				t.Fatalf("got %d frames written, want %d", n, tc.wantItems)
			}
		})
	}
}

// Latest-wins: a newer frame of a source replaces the pending one; an
// older one (a late rendition) is refused.
func TestQueueLatestWins(t *testing.T) {
	q := newOutQueue(1<<20, 1<<20)
	q.pushFrame(testEnvelope("a", 10, 1))
	if _, _, replaced, _ := q.pushFrame(testEnvelope("a", 11, 2)); !replaced {
		t.Fatal("a newer frame did not replace the pending one")
	}
	if kick, _, replaced, queued := q.pushFrame(testEnvelope("a", 9, 9)); kick || replaced || queued {
		t.Fatal("an older frame was queued")
	}
	q.start()
	it, _ := q.pop()
	if it.env.Seq != 2 {
		t.Fatalf("got seq %d, want 2", it.env.Seq)
	}
	if _, ok := q.pop(); ok {
		t.Fatal("more than one frame pending for one source")
	}
}
