package relay

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// Bounds stated for every abuse test (abuse_test.go). They hold under -race
// on a shared 2-core machine with the abuse running at full speed.
const (
	// goroutineSlack is how many goroutines above the baseline (taken after
	// the server and the probe started) may remain once the abuse is over.
	goroutineSlack = 5
	// heapSlack is how far HeapInuse (after GC) may stay above the baseline
	// once the abuse is over: retained layers, pools and size-class slack.
	heapSlack = 8 << 20
	// settleWithin bounds the wait for the counts to come back.
	settleWithin = 10 * time.Second
	// probeInterval is how often the probe publishes (20 frames/s, under
	// the default frame rate).
	probeInterval = 50 * time.Millisecond
	// probeBound is the stated bound on the probe's worst frame latency,
	// from its publisher's write to its subscriber's read of the image.
	probeBound = 2 * time.Second
	// probeLost is how long the probe waits for one frame before it
	// counts it as lost.
	probeLost = 5 * time.Second
)

// footprint is the process's goroutine count and heap in use after GC.
type footprint struct {
	goroutines int
	heapInuse  uint64
}

func measure() footprint {
	runtime.GC()
	runtime.GC() // a second cycle empties sync.Pool victims (gws buffers)
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return footprint{goroutines: runtime.NumGoroutine(), heapInuse: m.HeapInuse}
}

func (f footprint) String() string {
	return fmt.Sprintf("%d goroutines, %.1f MiB heap in use", f.goroutines, float64(f.heapInuse)/(1<<20))
}

// serverState is what the server holds for connections, under its lock.
type serverState struct{ conns, pending, rooms, ips int }

func stateOf(s *Server) serverState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return serverState{conns: len(s.registry), pending: s.pending, rooms: len(s.rooms), ips: len(s.perIP)}
}

// expectBaseline waits until the server holds only wantConns connections
// in wantRooms rooms (the probe's), no upgrade is pending, no close is
// lingering, and the goroutines and heap are back within their slack of
// base; it fails the test with the numbers otherwise.
func expectBaseline(t *testing.T, srv *Server, base footprint, wantConns, wantRooms int) {
	t.Helper()
	var (
		now footprint
		st  serverState
	)
	start := time.Now()
	for {
		st = stateOf(srv)
		now = measure()
		ok := st.conns == wantConns && st.pending == 0 && st.rooms == wantRooms && srv.linger.Load() == 0 &&
			now.goroutines <= base.goroutines+goroutineSlack && now.heapInuse <= base.heapInuse+heapSlack
		if ok || time.Since(start) > settleWithin {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("baseline %s; after %s (settled in %s); server: %d conns, %d pending, %d rooms, %d lingering",
		base, now, time.Since(start).Round(time.Millisecond), st.conns, st.pending, st.rooms, srv.linger.Load())
	if st.conns != wantConns || st.pending != 0 || st.rooms != wantRooms {
		t.Errorf("server holds %d conns, %d pending upgrades, %d rooms; want %d, 0, %d", st.conns, st.pending, st.rooms, wantConns, wantRooms)
	}
	if now.goroutines > base.goroutines+goroutineSlack {
		t.Errorf("goroutines: got %d, want at most %d (baseline %d + %d)", now.goroutines, base.goroutines+goroutineSlack, base.goroutines, goroutineSlack)
	}
	if now.heapInuse > base.heapInuse+heapSlack {
		t.Errorf("heap in use: got %d bytes, want at most %d (baseline + %d MiB)", now.heapInuse, base.heapInuse+heapSlack, heapSlack>>20)
	}
}

// probe is a normal client pair in a room of its own: its publisher sends a
// small image every probeInterval and waits until its subscriber has read
// it, so every frame is accounted for and timed.
type probe struct {
	pub, sub *tclient
	img      []byte
	stop     chan struct{}
	done     chan struct{}

	// Owned by run until done is closed.
	sent, acks int
	lat        []time.Duration
	spans      [][2]time.Time // send and receipt of each frame
	errs       []string
}

func startProbe(t *testing.T, url string) *probe {
	t.Helper()
	p := &probe{img: readTestdata(t, "photo-64x48.jpg"), stop: make(chan struct{}), done: make(chan struct{})}
	p.pub = dial(t, url, "calm", dialOpt{query: "client=probe-pub"})
	p.pub.expect(TypeHello)
	p.sub = dial(t, url, "calm", dialOpt{query: "client=probe-sub"})
	p.sub.expect(TypeHello)
	p.pub.expect(TypePresence)
	go p.run()
	t.Cleanup(p.halt)
	return p
}

func (p *probe) halt() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

func (p *probe) run() {
	defer close(p.done)
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		start := time.Now()
		if err := p.pub.ws.WriteMessage(gws.OpcodeBinary, p.img); err != nil {
			p.errs = append(p.errs, fmt.Sprintf("probe publish %d: %v", p.sent+1, err))
			return
		}
		p.sent++
		if !p.await(uint64(p.sent), start) {
			return
		}
		p.drainAcks()
	}
}

// await reads the subscriber until the frame with seq and its image.
func (p *probe) await(seq uint64, start time.Time) bool {
	deadline := time.NewTimer(probeLost)
	defer deadline.Stop()
	gotEvent := false
	for {
		select {
		case m := <-p.sub.msgs:
			switch {
			case m.op == gws.OpcodeText && m.typ == TypeFrame:
				if got := uint64(num(m.ev, "seq")); got != seq {
					p.errs = append(p.errs, fmt.Sprintf("probe subscriber got frame seq %d, want %d (a frame was lost)", got, seq))
					return false
				}
				gotEvent = true
			case m.op == gws.OpcodeBinary && gotEvent:
				if len(m.data) != len(p.img) {
					p.errs = append(p.errs, fmt.Sprintf("probe subscriber got %d bytes, want %d", len(m.data), len(p.img)))
					return false
				}
				p.lat = append(p.lat, time.Since(start))
				p.spans = append(p.spans, [2]time.Time{start, time.Now()})
				return true
			case m.op == gws.OpcodeText && m.typ == TypePresence:
			default:
				p.errs = append(p.errs, "probe subscriber got "+describe(m))
				return false
			}
		case <-p.sub.closed:
			p.errs = append(p.errs, fmt.Sprintf("probe subscriber closed (%v) waiting for seq %d", p.sub.err, seq))
			return false
		case <-deadline.C:
			p.errs = append(p.errs, fmt.Sprintf("probe frame seq %d not received within %s (lost)", seq, probeLost))
			return false
		}
	}
}

func (p *probe) drainAcks() {
	for {
		select {
		case m := <-p.pub.msgs:
			if m.typ == TypeAck && uint64(num(m.ev, "seq")) == uint64(p.acks+1) {
				p.acks++
				continue
			}
			p.errs = append(p.errs, fmt.Sprintf("probe publisher got %s, want ack %d", describe(m), p.acks+1))
		default:
			return
		}
	}
}

// finish stops the probe and checks that it ran during the abuse (from
// abuseStart to abuseEnd), that every frame arrived in order, each within
// probeBound, and that every one was acked.
func (p *probe) finish(t *testing.T, abuseStart, abuseEnd time.Time) {
	t.Helper()
	p.halt()
	waitFor(t, probeLost, func() bool { p.drainAcks(); return p.acks >= p.sent || len(p.errs) > 0 }, "the probe's acks")
	for _, e := range p.errs {
		t.Error(e)
	}
	if len(p.lat) == 0 {
		t.Fatalf("the probe delivered no frame")
	}
	lat := append([]time.Duration(nil), p.lat...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	worst := lat[len(lat)-1]
	during := 0
	for _, s := range p.spans {
		if s[0].Before(abuseEnd) && s[1].After(abuseStart) {
			during++
		}
	}
	t.Logf("probe: %d frames sent, %d received (%d while the abuse ran for %s), %d acked; latency p50 %s, p99 %s, max %s (bound %s)",
		p.sent, len(p.lat), during, abuseEnd.Sub(abuseStart).Round(time.Millisecond), p.acks,
		lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond), worst.Round(time.Microsecond), probeBound)
	if len(p.lat) != p.sent || p.acks != p.sent {
		t.Errorf("probe: got %d frames received and %d acked, want all %d sent", len(p.lat), p.acks, p.sent)
	}
	if during == 0 {
		t.Errorf("no probe frame was in flight while the abuse ran")
	}
	if worst > probeBound {
		t.Errorf("probe worst latency: got %s, want under %s", worst, probeBound)
	}
}

// readClose reads unmasked server frames from br until a close frame and
// returns its code (0 and the error when the connection ends without one).
func readClose(br *bufio.Reader) (int, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return 0, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return 0, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return 0, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if h[0]&0x0f != opClose {
			if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
				return 0, err
			}
			continue
		}
		payload := make([]byte, min(n, 125))
		if _, err := io.ReadFull(br, payload); err != nil {
			return 0, err
		}
		if len(payload) < 2 {
			return 0, nil
		}
		return int(binary.BigEndian.Uint16(payload)), nil
	}
}

// upgradeRequest is a client's WebSocket upgrade request for path, with
// header lines replaced or added by extra ("Name: value"; "Name:" removes).
func upgradeRequest(host, path string, extra ...string) string {
	h := []string{
		"Host: " + host, "Upgrade: websocket", "Connection: Upgrade",
		"Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
	}
	for _, e := range extra {
		name, _, _ := strings.Cut(e, ":")
		kept := h[:0]
		for _, l := range h {
			if !strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
				kept = append(kept, l)
			}
		}
		h = kept
		if strings.TrimSpace(e[len(name)+1:]) != "" {
			h = append(h, e)
		}
	}
	return "GET " + path + " HTTP/1.1\r\n" + strings.Join(h, "\r\n") + "\r\n\r\n"
}
