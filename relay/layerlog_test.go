package relay

import (
	"context"
	"errors"
	"testing"

	"github.com/canvasrelay/canvasrelay/relay/wire"
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
	if total, _ := checkAccounting(t, b); len(layers) != int(seq-2) || total != want || b.budget.bytes.Load() != want {
		t.Fatalf("log: %d entries, %d bytes (budget %d), want %d entries, %d bytes", len(layers), total, b.budget.bytes.Load(), seq-2, want)
	}
	full2 := NewFrameEnvelope([]byte(`{"type":"frame"}`), make([]byte, 500))
	full2.Kind, full2.Room, full2.Client, full2.TS, full2.Seq, full2.Width, full2.Height = KindFrame, "r", "a", 99, 99, 50, 40
	_ = b.Publish(ctx, full2)
	if layers, _ := b.Layers(ctx, "r"); len(layers) != 1 || b.budget.bytes.Load() != int64(full2.size()) {
		t.Fatalf("after a full frame: %d entries, %d bytes, want 1 and %d", len(layers), b.budget.bytes.Load(), full2.size())
	}
	checkAccounting(t, b)
	if _, err := b.PublishPatch(ctx, patch(100, 0, 0, 10)); err != nil {
		t.Fatalf("patch after a full frame: %v", err)
	}
	_ = b.ClearLayers(ctx, "r")
	if n := b.budget.bytes.Load(); n != 0 {
		t.Fatalf("after ClearLayers: %d bytes, want 0", n)
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

// Patches count against the room's byte cap like full frames: a log that
// grows evicts the room's least recently updated other layer.
func TestMemoryBrokerLogGrowthEvicts(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBroker(MemoryBrokerConfig{MaxRoomBytes: 3000, MaxRetainedBytes: 1 << 20})
	defer b.Close()
	frame := func(client string, ts int64, n int, patch bool) *Envelope {
		e := NewFrameEnvelope([]byte(`{}`), make([]byte, n))
		e.Kind, e.Room, e.Client, e.TS, e.Seq, e.Width, e.Height = KindFrame, "r", client, ts, uint64(ts), 100, 100
		if patch {
			e.Patch = &PatchRect{Width: 1, Height: 1}
		}
		return e
	}
	_ = b.Publish(ctx, frame("b", 1, 1000, false))
	_ = b.Publish(ctx, frame("a", 2, 1000, false))
	for i := range 3 {
		if _, err := b.PublishPatch(ctx, frame("a", int64(3+i), 400, true)); err != nil {
			t.Fatal(err)
		}
	}
	layers, _ := b.Layers(ctx, "r")
	if len(layers) != 4 || layers[0].Client != "a" {
		t.Fatalf("got %d entries (first from %q), want a's log of 4 alone: b's older layer evicted", len(layers), layers[0].Client)
	}
	if total, n := checkAccounting(t, b); n != 1 || total > 3000 {
		t.Fatalf("got %d layers of %d bytes, want 1 within 3000", n, total)
	}
}

// CheckPatch bounds a log by its count of patches as well as by their
// bytes: a keyframe is due at wire.KeyframePatches, and from
// wire.MaxLogPatches a patch is refused, however small.
func TestCheckPatchCountBound(t *testing.T) {
	st := LogState{BaseBytes: 1000}
	p := PatchRect{Width: 1, Height: 1}
	for i := 1; i <= wire.MaxLogPatches; i++ {
		var err error
		if st, err = CheckPatch(10, 10, st, p, 40); err != nil {
			t.Fatalf("patch %d: %v", i, err)
		}
		if due := st.keyframeDue(); due != (i >= wire.KeyframePatches) {
			t.Fatalf("after %d patches of 40 bytes: keyframe due %v", i, due)
		}
	}
	if _, err := CheckPatch(10, 10, st, p, 40); !errors.Is(err, ErrKeyframeNeeded) {
		t.Fatalf("patch %d: got %v, want ErrKeyframeNeeded", wire.MaxLogPatches+1, err)
	}
	if st.Patches != wire.MaxLogPatches || st.PatchBytes != 40*wire.MaxLogPatches {
		t.Fatalf("got %+v, want %d patches of 40 bytes", st, wire.MaxLogPatches)
	}
}
