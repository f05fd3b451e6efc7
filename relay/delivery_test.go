package relay

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

// recordingBroker keeps a copy of every frame envelope as it was published,
// and the envelope itself, to compare them at the end.
type recordingBroker struct {
	*MemoryBroker
	mu     sync.Mutex
	frames []recorded
}

type recorded struct {
	env    *Envelope
	before Envelope
	wire   []byte // a copy of the wire bytes as published
}

// Publish records env as the broker leaves it: a layer log broker sets its
// log fields while it publishes, before any delivery.
func (b *recordingBroker) Publish(ctx context.Context, env *Envelope) error {
	err := b.MemoryBroker.Publish(ctx, env)
	if env.Kind == KindFrame {
		b.mu.Lock()
		b.frames = append(b.frames, recorded{env: env, before: *env, wire: append([]byte(nil), env.wire...)})
		b.mu.Unlock()
	}
	return err
}

// sameFields compares two envelopes field by field: pointers, maps and
// slices by identity (and length), structs field by field, the rest by value.
func sameFields(a, b Envelope) bool {
	return same(reflect.ValueOf(a), reflect.ValueOf(b))
}

func same(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !same(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Map, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return a.Pointer() == b.Pointer()
	case reflect.Slice:
		return a.Len() == b.Len() && (a.Len() == 0 || a.Pointer() == b.Pointer())
	case reflect.Interface:
		return a.IsNil() == b.IsNil() && (a.IsNil() || same(a.Elem(), b.Elem()))
	default:
		return a.Equal(b)
	}
}

// A published Envelope never changes: not when its ack is held and
// released, not when a rendition is made from it, not when a late joiner
// gets it as a layer. The per-delivery state changes in its delivery.
func TestEnvelopeImmutableOncePublished(t *testing.T) {
	rb := &recordingBroker{MemoryBroker: NewMemoryBroker(MemoryBrokerConfig{})}
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1, Broker: rb})
	img := readTestdata(t, "canvas-opaque-64x48.png")

	pub := dial(t, u, "still", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	orig := dial(t, u, "still", dialOpt{query: "client=orig"})
	orig.expect(TypeHello)
	pub.expect(TypePresence)
	small := dial(t, u, "still", dialOpt{query: "client=small&max_width=32&format=jpeg"})
	small.expect(TypeHello)
	pub.expect(TypePresence)
	for i := 0; i < 3; i++ {
		pub.sendBinary(img)
		pub.expectSkippingFrames(TypeAck)
		orig.nextFrame(10 * time.Second)
		small.nextFrame(10 * time.Second)
	}
	late := dial(t, u, "still", dialOpt{query: "client=late"})
	late.expect(TypeHello)
	late.nextFrame(10 * time.Second) // the retained layer

	rb.mu.Lock()
	defer rb.mu.Unlock()
	if len(rb.frames) != 3 {
		t.Fatalf("%d frames published, want 3", len(rb.frames))
	}
	for i, r := range rb.frames {
		if !sameFields(r.before, *r.env) || string(r.wire) != string(r.env.wire) {
			t.Fatalf("frame %d changed after publish:\nbefore %+v\nafter  %+v", i+1, r.before, *r.env)
		}
		d := r.env.local
		if d == nil || d.ack == nil || d.ack.writes.Load() == 0 {
			t.Fatalf("frame %d: its delivery counted no write", i+1)
		}
		d.rendMu.Lock()
		n := len(d.rends)
		d.rendMu.Unlock()
		if n != 1 {
			t.Fatalf("frame %d: %d renditions cached in its delivery, want 1", i+1, n)
		}
	}
	_ = srv
}
