package relay

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
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
