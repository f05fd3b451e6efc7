package natsbroker

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/lxzan/gws"
)

// benchCounter counts the binary frames all subscribers read and signals
// when the count reaches want.
type benchCounter struct {
	got, want atomic.Int64
	done      chan struct{}
}

type benchSub struct {
	gws.BuiltinEventHandler
	c *benchCounter
}

func (s benchSub) OnMessage(_ *gws.Conn, m *gws.Message) {
	if m.Opcode == gws.OpcodeBinary && s.c.got.Add(1) == s.c.want.Load() {
		s.c.done <- struct{}{}
	}
	m.Close()
}

func (s benchSub) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }

func benchDial(b *testing.B, base, room, client string, h gws.Event) *gws.Conn {
	b.Helper()
	ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: base + "/ws/" + room + "?client=" + client, ReadMaxPayloadSize: 16 << 20})
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	go ws.ReadLoop()
	b.Cleanup(func() { _ = ws.NetConn().Close() })
	return ws
}

// memoryPerFrame is the memory run's time per frame, for the nats run's
// ratio (sub-benchmarks run in order).
var memoryPerFrame time.Duration

// BenchmarkFanout100KB sends one 100 KB frame at a time from one publisher
// and waits until all 200 subscribers have it, over real sockets.
//
//   - broker=memory: one relay node with the in-memory broker, 200
//     subscribers.
//   - broker=nats: two relay nodes on one embedded NATS server, 100
//     subscribers on each, the publisher on the first. Every frame crosses
//     NATS (and is stored in the layer stream) before any delivery.
//
// The nats run reports x_memory: its time per frame over the memory run's,
// measured in the same run.
func BenchmarkFanout100KB(b *testing.B) {
	img := noisePNG(b, 100<<10, 1)
	const subsPerNode, nodes = 100, 2
	for _, mode := range []string{"memory", "nats"} {
		b.Run("broker="+mode, func(b *testing.B) {
			var bases []string
			if mode == "memory" {
				srv, err := relay.New(nodeRelayConfig(nil, "m", Config{MaxBytes: 4 << 20}), nil)
				if err != nil {
					b.Fatal(err)
				}
				hs := httptest.NewServer(srv.Handler())
				b.Cleanup(func() { _ = srv.Shutdown(b.Context()); hs.Close() })
				base := "ws" + strings.TrimPrefix(hs.URL, "http")
				bases = []string{base, base}
			} else {
				ns := startNATS(b, 0)
				for i := range nodes {
					n := startNode(b, ns, "n"+strconv.Itoa(i))
					bases = append(bases, n.ws)
				}
			}
			c := &benchCounter{done: make(chan struct{}, 1)}
			for i := range nodes * subsPerNode {
				benchDial(b, bases[i%nodes], "bench", "s"+strconv.Itoa(i), benchSub{c: c})
			}
			pub := benchDial(b, bases[0], "bench", "pub", &gws.BuiltinEventHandler{})
			time.Sleep(500 * time.Millisecond) // let the joins and their presence settle
			total := int64(nodes * subsPerNode)
			b.SetBytes(int64(len(img)) * total)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				c.want.Store(total * int64(i+1))
				if err := pub.WriteMessage(gws.OpcodeBinary, img); err != nil {
					b.Fatal(err)
				}
				select {
				case <-c.done:
				case <-time.After(20 * time.Second):
					b.Fatalf("frame %d: %d of %d deliveries after 20s", i, c.got.Load()-total*int64(i), total)
				}
			}
			b.StopTimer()
			perFrame := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
			if mode == "memory" {
				memoryPerFrame = perFrame
			} else if memoryPerFrame > 0 {
				b.ReportMetric(float64(perFrame)/float64(memoryPerFrame), "x_memory")
			}
		})
	}
}
