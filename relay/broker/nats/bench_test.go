package natsbroker

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
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

// fanoutRig is one topology of the benchmark: a publisher and subscribers
// that count what they read.
type fanoutRig struct {
	pub   *gws.Conn
	c     *benchCounter
	total int64
	sent  int64
}

func newFanoutRig(b *testing.B, bases []string, subs int) *fanoutRig {
	r := &fanoutRig{c: &benchCounter{done: make(chan struct{}, 1)}, total: int64(subs)}
	for i := range subs {
		benchDial(b, bases[i%len(bases)], "bench", "s"+strconv.Itoa(i), benchSub{c: r.c})
	}
	r.pub = benchDial(b, bases[0], "bench", "pub", &gws.BuiltinEventHandler{})
	return r
}

// send publishes img and waits until every subscriber has it.
func (r *fanoutRig) send(b *testing.B, img []byte) time.Duration { return r.sendAfter(b, "", img) }

// sendPatch sends a patch command and its image, and waits until every
// subscriber has it.
func (r *fanoutRig) sendPatch(b *testing.B, x, y int, img []byte) time.Duration {
	return r.sendAfter(b, `{"type":"patch","x":`+strconv.Itoa(x)+`,"y":`+strconv.Itoa(y)+`}`, img)
}

// sendAfter sends the text frame cmd (if any) and img, and waits until
// every subscriber has img.
func (r *fanoutRig) sendAfter(b *testing.B, cmd string, img []byte) time.Duration {
	start := time.Now()
	r.sent++
	r.c.want.Store(r.total * r.sent)
	if cmd != "" {
		if err := r.pub.WriteString(cmd); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.pub.WriteMessage(gws.OpcodeBinary, img); err != nil {
		b.Fatal(err)
	}
	select {
	case <-r.c.done:
	case <-time.After(20 * time.Second):
		b.Fatalf("frame %d: %d of %d deliveries after 20s", r.sent, r.c.got.Load()-r.total*(r.sent-1), r.total)
	}
	return time.Since(start)
}

// BenchmarkFanout100KB sends one 100 KB frame at a time from one publisher
// and waits until all 200 subscribers have it, over real sockets, through
// two topologies built side by side in the same process:
//
//   - memory: one relay node with the in-memory broker, 200 subscribers;
//   - nats: two relay nodes on one embedded NATS server, 100 subscribers on
//     each, the publisher on the first. Every frame crosses NATS (and is
//     stored in the layer stream) before any delivery.
//
// Each iteration sends one frame through each, alternately, so both see the
// same machine load. It reports the time per frame of each (memory_ms,
// nats_ms) and nats/memory, the ratio of the two.
func BenchmarkFanout100KB(b *testing.B) {
	img := noisePNG(b, 100<<10, 1)
	const subsPerNode, nodes = 100, 2

	srv, err := relay.New(nodeRelayConfig(nil, "m", Config{MaxBytes: 4 << 20}), nil)
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()); hs.Close() })
	memory := newFanoutRig(b, []string{"ws" + strings.TrimPrefix(hs.URL, "http")}, nodes*subsPerNode)

	ns := startNATS(b, 0)
	var bases []string
	for i := range nodes {
		bases = append(bases, startNode(b, ns, "n"+strconv.Itoa(i)).ws)
	}
	viaNATS := newFanoutRig(b, bases, nodes*subsPerNode)
	time.Sleep(500 * time.Millisecond) // let the joins and their presence settle

	b.SetBytes(2 * int64(len(img)) * nodes * subsPerNode)
	b.ReportAllocs()
	b.ResetTimer()
	var tm, tn time.Duration
	for range b.N {
		tm += memory.send(b, img)
		tn += viaNATS.send(b, img)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(tm.Seconds()*1000/n, "memory_ms")
	b.ReportMetric(tn.Seconds()*1000/n, "nats_ms")
	b.ReportMetric(float64(tn)/float64(tm), "nats/memory")
}

// BenchmarkPatchFanout sends one 64×64 patch at a time onto a 1280×720
// layer and waits until all 40 subscribers (patches=1) have it, through
// one node with the in-memory broker and through two nodes on NATS (20
// subscribers each, the publisher on the first), alternately. On NATS each
// patch is checked against its log's end, appended with the expected last
// subject sequence, stored, republished and linked into each node's mirror
// before any delivery. It reports the time per patch of each (memory_ms,
// nats_ms) and their ratio.
func BenchmarkPatchFanout(b *testing.B) {
	full := encodePNG(b, testimg.Noise(1280, 720, 1, false))
	patch := encodePNG(b, testimg.Noise(64, 64, 2, true))
	const subsPerNode, nodes = 20, 2
	dialRig := func(bases []string) *fanoutRig {
		r := &fanoutRig{c: &benchCounter{done: make(chan struct{}, 1)}, total: nodes * subsPerNode}
		for i := range nodes * subsPerNode {
			benchDial(b, bases[i%len(bases)], "bench", "s"+strconv.Itoa(i)+"&patches=1", benchSub{c: r.c})
		}
		r.pub = benchDial(b, bases[0], "bench", "pub", &gws.BuiltinEventHandler{})
		return r
	}
	srv, err := relay.New(nodeRelayConfig(nil, "m", Config{MaxBytes: 4 << 20}), nil)
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()); hs.Close() })
	memory := dialRig([]string{"ws" + strings.TrimPrefix(hs.URL, "http")})
	ns := startNATS(b, 0)
	var bases []string
	for i := range nodes {
		bases = append(bases, startNode(b, ns, "n"+strconv.Itoa(i)).ws)
	}
	viaNATS := dialRig(bases)
	time.Sleep(500 * time.Millisecond) // let the joins and their presence settle
	memory.send(b, full)
	viaNATS.send(b, full)

	b.SetBytes(2 * int64(len(patch)) * nodes * subsPerNode)
	b.ReportAllocs()
	b.ResetTimer()
	var tm, tn time.Duration
	for i := range b.N {
		if i > 0 && i%200 == 0 { // a full frame, untimed: 200 patches of 16 KB stay under the log's bounds
			b.StopTimer()
			memory.send(b, full)
			viaNATS.send(b, full)
			b.StartTimer()
		}
		x, y := (i*37)%(1280-64), (i*23)%(720-64)
		tm += memory.sendPatch(b, x, y, patch)
		tn += viaNATS.sendPatch(b, x, y, patch)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(tm.Seconds()*1000/n, "memory_ms")
	b.ReportMetric(tn.Seconds()*1000/n, "nats_ms")
	b.ReportMetric(float64(tn)/float64(tm), "nats/memory")
}
