package relay

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// benchImage is a real PNG of about size bytes (noise does not compress).
func benchImage(tb testing.TB, size int) []byte {
	tb.Helper()
	side := 16
	for {
		img := image.NewNRGBA(image.Rect(0, 0, side, side))
		r := rand.New(rand.NewPCG(1, 2))
		for i := range img.Pix {
			img.Pix[i] = uint8(r.Uint32())
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			tb.Fatal(err)
		}
		if buf.Len() >= size {
			return buf.Bytes()
		}
		side += 8
	}
}

var _ = color.White

// benchCounter counts binary frames across all subscribers and signals when
// the count reaches want.
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

// floorServer is the thinnest possible fan-out on gws: every binary message
// is broadcast as it is to every other connection with one prepared frame.
// No validation, no queue policy, no events.
type floorServer struct {
	gws.BuiltinEventHandler
	mu    sync.Mutex
	conns map[*gws.Conn]struct{}
}

func (f *floorServer) OnOpen(c *gws.Conn) {
	f.mu.Lock()
	f.conns[c] = struct{}{}
	f.mu.Unlock()
}

func (f *floorServer) OnClose(c *gws.Conn, _ error) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *floorServer) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	if m.Opcode != gws.OpcodeBinary {
		return
	}
	bc := gws.NewBroadcaster(gws.OpcodeBinary, bytes.Clone(m.Bytes()))
	f.mu.Lock()
	for s := range f.conns {
		if s != c {
			_ = bc.Broadcast(s, nil)
		}
	}
	f.mu.Unlock()
	_ = bc.Close()
}

func startFloor(tb testing.TB) string {
	f := &floorServer{conns: map[*gws.Conn]struct{}{}}
	up := gws.NewUpgrader(f, &gws.ServerOption{ReadMaxPayloadSize: 16 << 20})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r)
		if err == nil {
			go c.ReadLoop()
		}
	}))
	tb.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// BenchmarkFanout sends one 100 KB frame at a time from one publisher to N
// subscribers over real sockets, and waits until every subscriber has it.
// impl=floor is raw gws Broadcaster fan-out, measured in the same run; the
// relay's target is at least 0.8× the floor's MB/s (delivered bytes).
func BenchmarkFanout(b *testing.B) {
	img := benchImage(b, 100<<10)
	for _, subs := range []int{1, 100, 1000} {
		for _, impl := range []string{"floor", "relay"} {
			b.Run(fmt.Sprintf("impl=%s/subs=%d", impl, subs), func(b *testing.B) {
				var base string
				var srv *Server
				if impl == "floor" {
					base = startFloor(b)
				} else {
					srv, base = startServer(b, Config{MaxMembersPerRoom: 2000, MaxConnsPerIP: 2000, FrameRate: -1, ByteRate: -1})
				}
				benchFanout(b, base, subs, img, srv)
			})
		}
	}
}

func benchFanout(b *testing.B, base string, subs int, img []byte, srv *Server) {
	cnt := &benchCounter{done: make(chan struct{}, 1)}
	cnt.want.Store(-1)
	var conns []*gws.Conn
	dialOne := func(h gws.Event, q string) *gws.Conn {
		c, _, err := gws.NewClient(h, &gws.ClientOption{Addr: base + "/ws/bench?" + q, ReadMaxPayloadSize: 16 << 20})
		if err != nil {
			b.Fatalf("dial: %v", err)
		}
		go c.ReadLoop()
		conns = append(conns, c)
		return c
	}
	for i := 0; i < subs; i++ {
		dialOne(benchSub{c: cnt}, fmt.Sprintf("client=s%d", i))
	}
	pub := dialOne(gws.BuiltinEventHandler{}, "client=pub")
	b.Cleanup(func() {
		for _, c := range conns {
			_ = c.WriteClose(1000, nil)
		}
	})
	// Let the joins settle: N joins make N²/2 presence events, which must
	// not be measured as fan-out.
	settled, deadline := 0, time.Now().Add(60*time.Second)
	for settled < 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if srv == nil || srv.queuedBytes() == 0 {
			settled++
		} else {
			settled = 0
		}
	}
	time.Sleep(50 * time.Millisecond)
	b.SetBytes(int64(len(img) * subs))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cnt.want.Store(cnt.got.Load() + int64(subs))
		if err := pub.WriteMessage(gws.OpcodeBinary, img); err != nil {
			b.Fatal(err)
		}
		select {
		case <-cnt.done:
		case <-time.After(30 * time.Second):
			b.Fatalf("frame %d: %d of %d deliveries after 30s", i, cnt.got.Load(), cnt.want.Load())
		}
	}
	b.StopTimer()
}
