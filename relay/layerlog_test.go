package relay

import (
	"context"
	"errors"
	"testing"
)

// The memory broker's layer log: patches are checked against the full
// frame, counted in the room's bytes, bounded by keyframe_needed, and a
// full frame or a clear starts over.
func TestMemoryBrokerLayerLog(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBroker(MemoryBrokerConfig{})
	defer b.Close()
	patch := func(seq uint64, x, y int, n int) *Envelope {
		e := NewFrameEnvelope([]byte(`{"type":"frame"}`), make([]byte, n))
		e.Kind, e.Room, e.Client, e.TS, e.Seq = KindFrame, "r", "a", int64(seq), seq
		e.Patch = &PatchRect{X: x, Y: y, Width: 10, Height: 10}
		return e
	}
	if _, err := b.PublishPatch(ctx, patch(1, 0, 0, 100)); !errors.Is(err, ErrNoFullFrame) {
		t.Fatalf("patch before a full frame: got %v, want ErrNoFullFrame", err)
	}
	full := NewFrameEnvelope([]byte(`{"type":"frame"}`), make([]byte, 1000))
	full.Kind, full.Room, full.Client, full.TS, full.Seq, full.Width, full.Height = KindFrame, "r", "a", 2, 2, 50, 40
	if err := b.Publish(ctx, full); err != nil {
		t.Fatal(err)
	}
	for _, pos := range [][2]int{{41, 0}, {0, 31}, {-1, 0}} {
		if _, err := b.PublishPatch(ctx, patch(3, pos[0], pos[1], 100)); !errors.Is(err, ErrPatchOutOfBounds) {
			t.Fatalf("patch at %v: got %v, want ErrPatchOutOfBounds", pos, err)
		}
	}
	want := int64(full.size())
	var seq uint64 = 3
	var sum int64
	for sum < 2*minLogBound {
		p := patch(seq, 40, 30, 16<<10)
		st, err := b.PublishPatch(ctx, p)
		if err != nil {
			t.Fatalf("patch %d at %d bytes: %v", seq, sum, err)
		}
		sum += int64(len(p.Image))
		want += int64(p.size())
		if st.PatchBytes != sum || st.BaseBytes != 1000 || p.logIdx != int(seq-2) || p.logBase != full {
			t.Fatalf("patch %d: got state %+v, log index %d, want %d patch bytes at index %d", seq, st, p.logIdx, sum, seq-2)
		}
		seq++
	}
	if _, err := b.PublishPatch(ctx, patch(seq, 0, 0, 10)); !errors.Is(err, ErrKeyframeNeeded) {
		t.Fatalf("patch over twice the bound: got %v, want ErrKeyframeNeeded", err)
	}
	layers, _ := b.Layers(ctx, "r")
	if len(layers) != int(seq-2) || b.bytes != want || b.rooms["r"].bytes != want {
		t.Fatalf("log: %d entries, %d bytes (room %d), want %d entries, %d bytes", len(layers), b.bytes, b.rooms["r"].bytes, seq-2, want)
	}
	full2 := NewFrameEnvelope([]byte(`{"type":"frame"}`), make([]byte, 500))
	full2.Kind, full2.Room, full2.Client, full2.TS, full2.Seq, full2.Width, full2.Height = KindFrame, "r", "a", 99, 99, 50, 40
	_ = b.Publish(ctx, full2)
	if layers, _ := b.Layers(ctx, "r"); len(layers) != 1 || b.bytes != int64(full2.size()) {
		t.Fatalf("after a full frame: %d entries, %d bytes, want 1 and %d", len(layers), b.bytes, full2.size())
	}
	if _, err := b.PublishPatch(ctx, patch(100, 0, 0, 10)); err != nil {
		t.Fatalf("patch after a full frame: %v", err)
	}
	_ = b.ClearLayers(ctx, "r")
	if b.bytes != 0 {
		t.Fatalf("after ClearLayers: %d bytes, want 0", b.bytes)
	}
}

// newestWithin keeps whole logs only.
func TestNewestWithinKeepsWholeLogs(t *testing.T) {
	a := testLog(t, "a", 10, 1, 3)
	b := testLog(t, "b", 20, 1, 2)
	all := append(append([]*Envelope{}, a...), b...)
	one := int64(a[0].size())
	if got := newestWithin(all, 4*one); len(got) != 3 || got[0] != b[0] {
		t.Fatalf("budget of 4: got %d entries, want b's whole log of 3", len(got))
	}
	if got := newestWithin(all, 7*one); len(got) != 7 {
		t.Fatalf("budget of 7: got %d entries, want all 7", len(got))
	}
}
