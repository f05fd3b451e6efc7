package relay

import (
	"slices"
	"testing"
)

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
		{"newer layer", testEnvelope("a", 10, 3), testEnvelope("a", 20, 4), 1}, // replaces the pending live frame
		{"other source", testEnvelope("a", 10, 3), testEnvelope("b", 10, 3), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newOutQueue(1<<20, 1<<20)
			if q.pushFrame(tc.live).overflow {
				t.Fatal("overflow")
			}
			q.addLayers([]*Envelope{tc.layer}, 0)
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
	if r := q.pushFrame(testEnvelope("a", 11, 2)); r.superseded != 1 {
		t.Fatal("a newer frame did not replace the pending one")
	}
	if r := q.pushFrame(testEnvelope("a", 9, 9)); r.kick || r.superseded > 0 || r.queued {
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

// A late joiner's layers are written one at a time as the writer drains
// them, so together they may exceed the frame cap; they come right after
// hello and before the events queued after them.
func TestQueueLayersBeyondTheFrameCap(t *testing.T) {
	q := newOutQueue(1<<20, 250) // room for two 114-byte frames
	var layers []*Envelope
	for i := range 5 {
		layers = append(layers, testEnvelope(string(rune('a'+i)), int64(10+i), 1))
	}
	q.addLayers(layers, 0)
	if kick, overflow := q.pushEvent(outItem{wire: []byte("hello"), size: 5}, true); kick || overflow {
		t.Fatalf("pushEvent before start: kick %v, overflow %v", kick, overflow)
	}
	if q.pushFrame(testEnvelope("z", 30, 1)).overflow {
		t.Fatal("a live frame overflowed while layers were pending")
	}
	q.pushEvent(outItem{wire: []byte("game"), size: 4}, false)
	if st := q.stats(); st.Layers != 5 || st.Frames != 1 {
		t.Fatalf("stats: got %+v, want 5 layers and 1 frame pending", st)
	}
	q.start()
	var got []string
	for {
		it, ok := q.pop()
		if !ok {
			break
		}
		if it.env == nil {
			got = append(got, string(it.wire))
		} else {
			got = append(got, it.env.Client)
		}
	}
	if want := []string{"hello", "a", "b", "c", "d", "e", "game", "z"}; !slices.Equal(got, want) {
		t.Fatalf("written: got %v, want %v", got, want)
	}
}

// A live frame newer than a pending layer of its source makes the layer
// go; dropFrames (a game clearing the canvas) drops pending layers too.
func TestQueueLayerOvertakenOrDropped(t *testing.T) {
	q := newOutQueue(1<<20, 1<<20)
	q.addLayers([]*Envelope{testEnvelope("a", 10, 1), testEnvelope("b", 11, 1)}, 0)
	if q.pushFrame(testEnvelope("a", 10, 1)).queued {
		t.Fatal("a live copy of a pending layer was queued")
	}
	if !q.pushFrame(testEnvelope("a", 20, 2)).queued {
		t.Fatal("a newer live frame was refused")
	}
	if st := q.stats(); st.Layers != 1 {
		t.Fatalf("pending layers: got %d, want 1 (a's went with the newer live frame)", st.Layers)
	}
	q.start()
	it, _ := q.pop()
	if it.env.Client != "b" {
		t.Fatalf("first written: got %s, want b (a's layer was overtaken)", it.env.Client)
	}
	it, _ = q.pop()
	if it.env.Client != "a" || it.env.Seq != 2 {
		t.Fatalf("second written: got %s seq %d, want a's live frame", it.env.Client, it.env.Seq)
	}

	q = newOutQueue(1<<20, 1<<20)
	q.addLayers([]*Envelope{testEnvelope("a", 10, 1), testEnvelope("b", 11, 1)}, 0)
	if n := q.dropFrames(); n != 2 {
		t.Fatalf("dropFrames: got %d, want 2", n)
	}
	q.start()
	if it, ok := q.pop(); ok {
		t.Fatalf("after dropFrames: got %v, want nothing", it.env.Client)
	}
}

// With a byte bound, addLayers takes nothing that would go over it.
func TestQueueLayersBound(t *testing.T) {
	q := newOutQueue(1<<20, 1<<20)
	one := int64(testEnvelope("a", 1, 1).size())
	if _, full, _ := q.addLayers([]*Envelope{testEnvelope("a", 1, 1)}, 2*one); full {
		t.Fatal("one layer under a bound of two: full")
	}
	if _, full, _ := q.addLayers([]*Envelope{testEnvelope("b", 1, 1), testEnvelope("c", 1, 1)}, 2*one); !full {
		t.Fatal("three layers under a bound of two: taken")
	}
	if st := q.stats(); st.Layers != 1 {
		t.Fatalf("pending layers: got %d, want 1", st.Layers)
	}
}
