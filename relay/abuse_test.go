package relay

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The abuse tests of issue 6. Each one runs a relay on 127.0.0.1, starts a
// probe (a normal publisher and subscriber in a room of their own, see
// abuse_probe_test.go), takes a baseline, runs a bounded abuse, and then
// checks that the probe lost no frame and saw none later than probeBound,
// and that the server's connections, goroutines and heap come back within
// goroutineSlack and heapSlack of the baseline.

// TestAbuseConnectionChurn opens and closes 1,000 connections, 16 at a time,
// closing them in four ways: a close frame after hello, a dropped TCP
// connection after hello, a close frame before reading anything, a dropped
// connection right after the upgrade.
func TestAbuseConnectionChurn(t *testing.T) {
	const (
		total   = 1000
		workers = 16
		bound   = 40 * time.Second
	)
	srv, url := startServer(t, Config{MaxConnsPerIP: 4 * workers, ShutdownGrace: 500 * time.Millisecond})
	p := startProbe(t, url)
	base := measure()
	abuseStart := time.Now()

	var failures atomic.Int64
	var firstErr sync.Once
	fail := func(format string, args ...any) {
		failures.Add(1)
		firstErr.Do(func() { t.Errorf(format, args...) })
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("churn-%d", w)
			for i := range jobs {
				c, _, err := tryDial(t, url, room, dialOpt{query: fmt.Sprintf("client=churn%d", i), buffer: 16})
				if err != nil {
					fail("dial %d: %v", i, err)
					continue
				}
				if i%4 < 2 {
					select {
					case m := <-c.msgs:
						if m.typ != TypeHello {
							fail("conn %d: got %s, want hello", i, describe(m))
						}
					case <-time.After(5 * time.Second):
						fail("conn %d: no hello within 5s", i)
					}
				}
				if i%2 == 0 {
					_ = c.ws.WriteClose(1000, nil)
				} else {
					_ = c.ws.NetConn().Close()
				}
				select {
				case <-c.closed:
				case <-time.After(5 * time.Second):
					_ = c.ws.NetConn().Close()
					fail("conn %d: not closed within 5s", i)
				}
			}
		}()
	}
	start := time.Now()
	sent := 0
	for ; sent < total && time.Since(start) < bound; sent++ {
		jobs <- sent
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	t.Logf("%d connections opened and closed in %s (%.0f/s), %d failures", sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), failures.Load())
	if sent < total {
		t.Errorf("churn: got %d connections in %s, want %d", sent, bound, total)
	}
	abuseEnd := time.Now()
	expectBaseline(t, srv, base, 2, 1)
	if got := testutil.ToFloat64(srv.metrics.connections); got != 2 {
		t.Errorf("connections gauge: got %v, want 2 (the probe)", got)
	}
	p.finish(t, abuseStart, abuseEnd)
}

// TestAbuseHandshakeFlood floods the listener with handshakes that never
// reach the relay (silent and half-sent requests), with requests that fail
// the upgrade at every step, and with upgrades whose client never reads or
// speaks again. Half-sent requests are the http.Server's to time out (see
// cli/serve_abuse_test.go); the relay's promises are that they take none of
// its slots, that a refused upgrade gives its slot back, and that a silent
// WebSocket is closed with 4003 within ReadTimeout.
func TestAbuseHandshakeFlood(t *testing.T) {
	const (
		maxConns = 40
		perIP    = 30
		stalled  = 150 // silent plus half-sent connections, each
	)
	cfg := Config{MaxConns: maxConns, MaxConnsPerIP: perIP, PingInterval: 250 * time.Millisecond, ReadTimeout: 1500 * time.Millisecond, ShutdownGrace: 300 * time.Millisecond}
	srv, url := startServer(t, cfg)
	host := strings.TrimPrefix(url, "ws://")
	p := startProbe(t, url)
	base := measure()
	abuseStart := time.Now()

	open := func() net.Conn {
		t.Helper()
		nc, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	// 1. Silent and half-sent handshakes, more than MaxConns of each.
	var idle []net.Conn
	for i := 0; i < stalled; i++ {
		idle = append(idle, open())
		nc := open()
		fmt.Fprintf(nc, "GET /ws/flood-%d HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upg", i, host)
		idle = append(idle, nc)
	}
	if st := stateOf(srv); st.conns != 2 || st.pending != 0 {
		t.Errorf("with %d stalled handshakes: server holds %d conns and %d pending, want 2 and 0", len(idle), st.conns, st.pending)
	}
	c := dial(t, url, "newcomer", dialOpt{})
	c.expect(TypeHello)
	c.close()

	// 2. Upgrades refused at every step; each gives its slot back.
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		{"not HTTP", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 junk\r\n\r\n", 400},
		{"bad request line", "HELLO THERE\r\n\r\n", 400},
		{"POST", strings.Replace(upgradeRequest(host, "/ws/flood"), "GET", "POST", 1), 405},
		{"bad room", upgradeRequest(host, "/ws/bad%20room"), 400},
		{"bad client id", upgradeRequest(host, "/ws/flood?client=a%20b"), 400},
		{"foreign origin", upgradeRequest(host, "/ws/flood", "Origin: https://evil.example"), 403},
		{"no key", upgradeRequest(host, "/ws/flood", "Sec-WebSocket-Key:"), 400},
		{"old version", upgradeRequest(host, "/ws/flood", "Sec-WebSocket-Version: 8"), 400},
		{"no upgrade header", upgradeRequest(host, "/ws/flood", "Upgrade:"), 400},
		{"connection keep-alive", upgradeRequest(host, "/ws/flood", "Connection: keep-alive"), 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < 10; i++ {
				nc := open()
				_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(nc, tc.req); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
				if err != nil {
					t.Fatalf("reading the answer: %v", err)
				}
				resp.Body.Close()
				nc.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("got HTTP %d, want %d", resp.StatusCode, tc.status)
				}
			}
		})
	}
	waitFor(t, 5*time.Second, func() bool { st := stateOf(srv); return st.pending == 0 && st.rooms == 1 && st.conns == 2 }, "refused upgrades to give back their slots")

	// 3. Upgrades whose client never reads the 101 nor sends a byte: they
	// hold a slot (up to MaxConnsPerIP) until ReadTimeout, then get 4003.
	silent := perIP - 2 // the probe holds two
	var ws []net.Conn
	sentAt := time.Now()
	for i := 0; i < silent; i++ {
		nc := open()
		if _, err := io.WriteString(nc, upgradeRequest(host, fmt.Sprintf("/ws/silent-%d", i%4))); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, nc)
	}
	waitFor(t, 5*time.Second, func() bool { return stateOf(srv).conns == 2+silent }, "the silent upgrades to be registered")
	if _, resp, err := tryDial(t, url, "one-more", dialOpt{}); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("over MaxConnsPerIP while the silent ones hold their slots: got %v, want HTTP 429", err)
	}
	waitFor(t, cfg.ReadTimeout+cfg.PingInterval+3*time.Second, func() bool { return stateOf(srv).conns == 2 }, "the silent upgrades to be closed")
	t.Logf("%d silent upgrades closed %s after their request (ReadTimeout %s)", silent, time.Since(sentAt).Round(time.Millisecond), cfg.ReadTimeout)
	for i, nc := range ws {
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("silent upgrade %d: got %v, want 101", i, err)
		}
		if code, err := readClose(br); code != ClosePingTimeout {
			t.Errorf("silent upgrade %d: got close code %d (%v), want 4003", i, code, err)
		}
	}
	if got := testutil.ToFloat64(srv.metrics.disconnects.WithLabelValues(reasonReadTimeout, "4003")); got != float64(silent) {
		t.Errorf("disconnects{read_timeout,4003}: got %v, want %d", got, silent)
	}
	om := dial(t, url, "one-more", dialOpt{}) // the slots are free again
	om.expect(TypeHello)
	om.close()

	for _, nc := range append(idle, ws...) {
		nc.Close()
	}
	abuseEnd := time.Now()
	expectBaseline(t, srv, base, 2, 1)
	p.finish(t, abuseStart, abuseEnd)
}

// TestAbuseNeverReadingClients: subscribers that never read while a
// publisher sends big frames are cut off with 4001 within WriteTimeout once
// their socket buffers are full. Meanwhile each holds at most one pending
// frame (latest-wins) plus its event cap, and the publisher's acks are not
// delayed by them.
func TestAbuseNeverReadingClients(t *testing.T) {
	const (
		frozen    = 8
		maxFrames = 400
		bound     = 20 * time.Second
	)
	cfg := Config{WriteTimeout: 500 * time.Millisecond, ShutdownGrace: 200 * time.Millisecond, FrameRate: -1, ByteRate: -1, MaxConnsPerIP: 64}
	srv, url := startServer(t, cfg)
	p := startProbe(t, url)
	base := measure()
	abuseStart := time.Now()
	img := readTestdata(t, "canvas-1920x1080.png")

	pub := dial(t, url, "sink", dialOpt{query: "client=sink-pub"})
	pub.expect(TypeHello)
	var sinks []*tclient
	for i := 0; i < frozen; i++ {
		sinks = append(sinks, dial(t, url, "sink", dialOpt{query: fmt.Sprintf("client=sink%d", i), frozen: true}))
		pub.expect(TypePresence)
	}
	cut := func() float64 {
		return testutil.ToFloat64(srv.metrics.disconnects.WithLabelValues(reasonSlowConsumer, "4001"))
	}
	var (
		sent         int
		maxAck       time.Duration
		maxQueued    float64
		maxPending   int
		peakHeapGrow int64
	)
	start := time.Now()
	for ; sent < maxFrames && time.Since(start) < bound && cut() < frozen; sent++ {
		t0 := time.Now()
		pub.sendBinary(img)
		pub.expectSkippingFrames(TypeAck)
		maxAck = max(maxAck, time.Since(t0))
		maxQueued = max(maxQueued, srv.queuedBytes())
		for _, c := range srv.snapshot() {
			if st := c.q.stats(); strings.HasPrefix(c.client, "sink") && c.client != "sink-pub" {
				maxPending = max(maxPending, st.Frames)
				if st.EventBytes > cfg.withDefaults().EventQueueMaxBytes {
					t.Fatalf("%s holds %d event bytes, over the cap", c.client, st.EventBytes)
				}
			}
		}
		if sent == 20 {
			peakHeapGrow = int64(measure().heapInuse) - int64(base.heapInuse)
		}
	}
	took := time.Since(start)
	waitFor(t, 5*time.Second, func() bool { return cut() == frozen }, "every never-reading client to be cut off with 4001")
	t.Logf("%d frames of %d bytes in %s; %d never-reading clients cut off with 4001; publisher ack max %s; queued max %.1f MiB, pending frames per client max %d; heap +%.1f MiB after 20 frames",
		sent, len(img), took.Round(time.Millisecond), frozen, maxAck.Round(time.Millisecond), maxQueued/(1<<20), maxPending, float64(peakHeapGrow)/(1<<20))
	if maxPending > 1 {
		t.Errorf("pending frames for one never-reading client: got %d, want at most 1 (one source)", maxPending)
	}
	if limit := float64(frozen * (len(img) + 4<<10 + cfg.withDefaults().EventQueueMaxBytes)); maxQueued > limit {
		t.Errorf("queued bytes: got %.0f, want at most %.0f (one frame and the event cap per client)", maxQueued, limit)
	}
	if maxAck > probeBound {
		t.Errorf("publisher ack latency: got %s, want under %s", maxAck, probeBound)
	}
	if peakHeapGrow > int64(frozen*len(img)+heapSlack) {
		t.Errorf("heap grew %d bytes during the abuse, want at most %d", peakHeapGrow, frozen*len(img)+heapSlack)
	}
	for _, c := range sinks {
		_ = c.ws.NetConn().Close()
		c.unfreeze()
		select {
		case <-c.closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("a never-reading client did not end")
		}
		for len(c.msgs) > 0 {
			<-c.msgs
		}
	}
	pub.close()
	abuseEnd := time.Now()
	expectBaseline(t, srv, base, 2, 1)
	p.finish(t, abuseStart, abuseEnd)
}

// TestAbuseStalledFrames: clients that announce a frame and never finish
// it (nothing more, half of it, or a trickle) are closed with 4003 once
// ReadTimeout passes without a complete message. gws allocates the
// announced length as soon as it reads the header, so until then each one
// holds up to MaxBytes of the server's memory; the test states that bound.
func TestAbuseStalledFrames(t *testing.T) {
	const (
		maxBytes = 1 << 20
		silent   = 10 // announce maxBytes, send nothing more
		half     = 5  // announce maxBytes, send half
		trickle  = 5  // announce maxBytes, send 64 bytes every 50 ms
		n        = silent + half + trickle
	)
	cfg := Config{MaxBytes: maxBytes, PingInterval: 250 * time.Millisecond, ReadTimeout: 1500 * time.Millisecond, ShutdownGrace: 300 * time.Millisecond, MaxConnsPerIP: 64}
	srv, url := startServer(t, cfg)
	p := startProbe(t, url)
	base := measure()
	abuseStart := time.Now()

	type result struct {
		code int
		err  error
		took time.Duration
	}
	results := make(chan result, n)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		nc, br := rawConn(t, url, fmt.Sprintf("stall-%d", i%3))
		start := time.Now()
		if _, err := nc.Write(frameHeader(0x2, maxBytes)); err != nil {
			t.Fatal(err)
		}
		switch {
		case i < silent:
		case i < silent+half:
			if _, err := nc.Write(make([]byte, maxBytes/2)); err != nil {
				t.Fatal(err)
			}
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				chunk := make([]byte, 64)
				for k := 0; k < 200; k++ {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := nc.Write(chunk); err != nil {
						return
					}
				}
			}()
		}
		go func() {
			_ = nc.SetReadDeadline(time.Now().Add(cfg.ReadTimeout + cfg.PingInterval + 10*time.Second))
			code, err := readClose(br)
			results <- result{code, err, time.Since(start)}
		}()
	}
	time.Sleep(cfg.ReadTimeout / 2)
	held := int64(measure().heapInuse) - int64(base.heapInuse)
	var worst time.Duration
	for i := 0; i < n; i++ {
		r := <-results
		worst = max(worst, r.took)
		if r.code != ClosePingTimeout {
			t.Errorf("stalled frame: got close code %d (%v) after %s, want 4003", r.code, r.err, r.took)
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%d stalled frames of %d bytes announced: heap +%.1f MiB while they wait (%.2f × MaxBytes each); all closed with 4003 within %s (ReadTimeout %s, PingInterval %s)",
		n, maxBytes, float64(held)/(1<<20), float64(held)/float64(n*maxBytes), worst.Round(time.Millisecond), cfg.ReadTimeout, cfg.PingInterval)
	if limit := cfg.ReadTimeout + cfg.PingInterval + 2*time.Second; worst > limit {
		t.Errorf("a stalled frame was closed after %s, want within %s", worst, limit)
	}
	if limit := int64(2*n*maxBytes + heapSlack); held > limit {
		t.Errorf("stalled frames hold %d bytes, want at most %d (MaxBytes each, rounded up to a power of two)", held, limit)
	}
	abuseEnd := time.Now()
	expectBaseline(t, srv, base, 2, 1)
	if got := testutil.ToFloat64(srv.metrics.disconnects.WithLabelValues(reasonReadTimeout, "4003")); got != n {
		t.Errorf("disconnects{read_timeout,4003}: got %v, want %d", got, n)
	}
	p.finish(t, abuseStart, abuseEnd)
}

// TestAbuseFrameFlood: waves of clients that send frames (and chat lines)
// as fast as they can, far over the rate limits, each reconnecting after the
// last wave was closed. Each client gets rate_limited answers, then close
// 1008 after MaxViolations of them, and what it got through is bounded by
// its token bucket.
func TestAbuseFrameFlood(t *testing.T) {
	const (
		minWaves      = 3
		maxWaves      = 10
		minFlood      = 1500 * time.Millisecond // keep the waves coming for this long
		frameFlooders = 6
		chatFlooders  = 2
		maxSends      = 5000
		bound         = 10 * time.Second // per wave
	)
	// ShutdownGrace stays at its default (2 s): a flooder still writing when
	// a shorter linger ends gets a reset, which can wipe the close frame and
	// the last answers before it has read them.
	cfg := Config{MaxConnsPerIP: 64}
	srv, url := startServer(t, cfg)
	d := cfg.withDefaults()
	p := startProbe(t, url)
	base := measure()
	abuseStart := time.Now()
	img := readTestdata(t, "photo-64x48.jpg")
	w := 0
	for ; w < maxWaves && (w < minWaves || time.Since(abuseStart) < minFlood); w++ {
		floodWave(t, url, w, frameFlooders, chatFlooders, maxSends, bound, img, d)
	}
	abuseEnd := time.Now()
	expectBaseline(t, srv, base, 2, 1)
	if got := testutil.ToFloat64(srv.metrics.disconnects.WithLabelValues(reasonPolicy, "1008")); got != float64(w*(frameFlooders+chatFlooders)) {
		t.Errorf("disconnects{policy,1008}: got %v, want %d", got, w*(frameFlooders+chatFlooders))
	}
	p.finish(t, abuseStart, abuseEnd)
}

// floodWave runs one wave of TestAbuseFrameFlood and checks each flooder.
func floodWave(t *testing.T, url string, wave, frameFlooders, chatFlooders, maxSends int, bound time.Duration, img []byte, d Config) {
	t.Helper()
	var flooders []*tclient
	for i := 0; i < frameFlooders+chatFlooders; i++ {
		c, _, err := tryDial(t, url, "flood", dialOpt{query: fmt.Sprintf("client=flood%d-%d", wave, i)})
		if err != nil {
			t.Fatalf("wave %d: dial flooder %d: %v", wave, i, err)
		}
		c.expect(TypeHello)
		flooders = append(flooders, c)
	}
	type tally struct {
		sends int
		took  time.Duration
	}
	tallies := make([]tally, len(flooders))
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < maxSends && time.Since(start) < bound; k++ {
				var err error
				if i < frameFlooders {
					err = c.ws.WriteMessage(gws.OpcodeBinary, img)
				} else {
					err = c.ws.WriteString(fmt.Sprintf("spam %d", k))
				}
				tallies[i] = tally{k + 1, time.Since(start)}
				if err != nil {
					return
				}
				select {
				case <-c.closed:
					return
				default:
				}
			}
		}()
	}
	wg.Wait()
	var minAcks, maxAcks, sends int
	minAcks = maxSends
	for i, c := range flooders {
		kind := "frame"
		if i >= frameFlooders {
			kind = "chat"
		}
		code := c.closeCode(5 * time.Second)
		acks, limited := 0, 0
		for len(c.msgs) > 0 {
			m := <-c.msgs
			switch {
			case m.typ == TypeAck:
				acks++
			case m.typ == TypeError && str(m.ev, "code") == CodeRateLimited:
				limited++
			case m.typ == TypeError:
				t.Errorf("wave %d, %s flooder %d: got %s, want only rate_limited errors", wave, kind, i, m.data)
			}
		}
		if code != ClosePolicy {
			t.Errorf("wave %d, %s flooder %d: got close code %d, want 1008", wave, kind, i, code)
		}
		if limited != d.MaxViolations {
			t.Errorf("wave %d, %s flooder %d: got %d rate_limited answers, want %d (MaxViolations) before the close", wave, kind, i, limited, d.MaxViolations)
		}
		sends += tallies[i].sends
		if kind == "frame" {
			minAcks, maxAcks = min(minAcks, acks), max(maxAcks, acks)
			if allowed := d.FrameBurst + int(d.FrameRate*tallies[i].took.Seconds()) + 1; acks > allowed {
				t.Errorf("wave %d, frame flooder %d: got %d frames through in %s, want at most %d (burst %d + %.0f/s)", wave, i, acks, tallies[i].took, allowed, d.FrameBurst, d.FrameRate)
			}
		}
	}
	t.Logf("wave %d: %d flooders sent %d messages in %s; each frame flooder got %d to %d acks (burst %d + %.0f/s), then %d rate_limited and 1008",
		wave, len(flooders), sends, time.Since(start).Round(time.Millisecond), minAcks, maxAcks, d.FrameBurst, d.FrameRate, d.MaxViolations)
}
