package relay

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMemoryBrokerPublishParallel publishes from many goroutines at
// once (RunParallel, 8 per P), each in a room of its own ("rooms=many") or
// all in one room ("rooms=1"), frames (retained as layers) or chat. Each
// room has one subscriber that does nothing. With no broker-wide lock,
// rooms=many scales with the cores; rooms=1 shows the cost of sharing.
// It uses only the Broker API, so it runs against any MemoryBroker.
func BenchmarkMemoryBrokerPublishParallel(b *testing.B) {
	for _, kind := range []struct {
		name string
		kind Kind
	}{{"frame", KindFrame}, {"chat", KindChat}} {
		for _, many := range []bool{false, true} {
			name := fmt.Sprintf("%s/rooms=1", kind.name)
			if many {
				name = fmt.Sprintf("%s/rooms=many", kind.name)
			}
			b.Run(name, func(b *testing.B) {
				br := NewMemoryBroker(MemoryBrokerConfig{})
				defer br.Close()
				const perP = 8
				for i := range 512 {
					if _, err := br.Subscribe(fmt.Sprintf("room%d", i), func(*Envelope) {}); err != nil {
						b.Fatal(err)
					}
				}
				var next atomic.Int64
				b.SetParallelism(perP)
				b.ReportAllocs()
				b.SetBytes(1 << 10)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					id := next.Add(1)
					room := "room0"
					if many {
						room = fmt.Sprintf("room%d", id)
					}
					client := fmt.Sprintf("c%d", id%16)
					env := &Envelope{Kind: kind.kind, Room: room, Client: client, Event: make([]byte, 100), Image: make([]byte, 1<<10-114), TS: id}
					if kind.kind != KindFrame {
						env.Image = nil
					}
					ctx := context.Background()
					for pb.Next() {
						if err := br.Publish(ctx, env); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkMemoryBrokerPublishDuringSweep publishes frames in one room
// while another goroutine keeps the broker at MaxRetainedRooms empty rooms
// with layers (20,000 here): each of its Joins then sweeps every room.
// With a broker-wide lock, a Publish in an unrelated room waits for whole
// sweeps: ns/op is the mean, and "max-µs" the slowest single Publish (on a
// loaded machine, partly the OS scheduler's doing).
func BenchmarkMemoryBrokerPublishDuringSweep(b *testing.B) {
	const rooms = 20000
	ctx := context.Background()
	br := NewMemoryBroker(MemoryBrokerConfig{MaxRetainedRooms: rooms})
	defer br.Close()
	small := func(room, client string) *Envelope {
		return &Envelope{Kind: KindFrame, Room: room, Client: client, Image: make([]byte, 64), TS: 1}
	}
	churn := func(i int) {
		room := fmt.Sprintf("empty%d", i)
		m := Member{Conn: room, Client: "c"}
		_, _ = br.Join(ctx, room, m)
		_ = br.Publish(ctx, small(room, "c"))
		_, _ = br.Leave(ctx, room, m)
	}
	for i := range rooms {
		churn(i)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := rooms; ; i++ {
			select {
			case <-stop:
				return
			default:
				churn(i) // the Join sweeps: one room too many
			}
		}
	}()
	if _, err := br.Subscribe("live", func(*Envelope) {}); err != nil {
		b.Fatal(err)
	}
	env := small("live", "drawer")
	took := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if err := br.Publish(ctx, env); err != nil {
			b.Fatal(err)
		}
		took[i] = time.Since(t0)
	}
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(float64(slices.Max(took).Nanoseconds())/1e3, "max-µs")
}
