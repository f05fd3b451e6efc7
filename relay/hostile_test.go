package relay

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// rawConn opens a WebSocket by hand, so a test can write any bytes.
func rawConn(t *testing.T, base, room string) (net.Conn, *bufio.Reader) {
	t.Helper()
	return rawConnWith(t, &net.Dialer{}, base, room)
}

// rawConnSmall is rawConn with a tiny receive buffer, and reads nothing
// past the handshake.
func rawConnSmall(t *testing.T, base, room, query string) net.Conn {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	nc, _ := rawConnWith(t, d, base, room+"?"+query)
	return nc
}

func rawConnWith(t *testing.T, d *net.Dialer, base, room string) (net.Conn, *bufio.Reader) {
	t.Helper()
	host := strings.TrimPrefix(base, "ws://")
	nc, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(nc, "GET /ws/%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
		room, host, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: got %d, want 101", resp.StatusCode)
	}
	return nc, br
}

// frameHeader is a masked client frame header claiming n payload bytes.
func frameHeader(op byte, n uint64) []byte {
	h := []byte{0x80 | op, 0x80 | 127}
	h = binary.BigEndian.AppendUint64(h, n)
	return append(h, 1, 2, 3, 4) // mask key
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// A header that claims a huge length is refused with 1009 before anything
// of that size is allocated.
func TestHugeLengthHeaderAllocatesNothing(t *testing.T) {
	const maxBytes = 1 << 20
	srv, url := startServer(t, Config{MaxBytes: maxBytes})
	nc, br := rawConn(t, url, "huge")
	before := heapAlloc()
	if _, err := nc.Write(frameHeader(0x2, 1<<40)); err != nil { // claims 1 TiB, sends nothing more
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, _ := io.ReadAll(br) // hello, then the close frame, then EOF
	after := heapAlloc()
	i := strings.LastIndex(string(data), "\x88")
	if i < 0 || i+4 > len(data) {
		t.Fatalf("no close frame in %q", data)
	}
	if code := binary.BigEndian.Uint16(data[i+2 : i+4]); code != CloseTooBig {
		t.Fatalf("close code: got %d, want 1009", code)
	}
	if grew := after - before; grew > maxBytes {
		t.Fatalf("allocated %d bytes while refusing a 1 TiB header, want under %d", grew, maxBytes)
	}
	t.Logf("allocated %d bytes while refusing a frame that claims 1 TiB", after-before)
	waitFor(t, 2*time.Second, func() bool { return strings.Contains(scrape(t, srv), `reason="too_big"} 1`) }, "the too_big disconnect")
}

// A header that claims a length under the limit but never sends it: the
// connection is eventually closed (ping timeout), and others are unaffected.
func TestSlowDeclaredFrameDoesNotBlockOthers(t *testing.T) {
	_, url := startServer(t, Config{PingInterval: 100 * time.Millisecond, ReadTimeout: 400 * time.Millisecond})
	nc, br := rawConn(t, url, "slow")
	if _, err := nc.Write(frameHeader(0x2, 500<<10)); err != nil {
		t.Fatal(err)
	}
	a := dial(t, url, "slow", dialOpt{})
	a.expect(TypeHello)
	b := dial(t, url, "slow", dialOpt{})
	b.expect(TypeHello)
	a.expect(TypePresence)
	a.sendBinary(readTestdata(t, "photo-64x48.jpg"))
	b.expect(TypeFrame)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, br); err != nil {
		t.Fatalf("the stalled sender's connection was not closed: %v", err)
	}
}

// Pixel bombs of every format are refused by their header: the server does
// not allocate the image.
func TestPixelBombsAllocateNothing(t *testing.T) {
	_, url := startServer(t, Config{})
	a := dial(t, url, "bomb", dialOpt{})
	a.expect(TypeHello)
	bombs := []string{"bomb-100000x100000.png", "bomb-65535x65535.jpg", "bomb-65535x65535.gif", "bomb-vp8x-40000x40000.webp", "bomb-vp8l-16384x16384.webp"}
	before := heapAlloc()
	for _, f := range bombs {
		a.sendBinary(readTestdata(t, f))
		if e := a.expect(TypeError); str(e.ev, "code") != CodeTooManyPixels {
			t.Fatalf("%s: got %s, want too_many_pixels", f, e.data)
		}
	}
	grew := heapAlloc() - before
	t.Logf("5 pixel bombs (the smallest claims 16384×16384×4 = 1 GiB decoded): %d bytes allocated in all", grew)
	if grew > 4<<20 {
		t.Fatalf("allocated %d bytes for 5 pixel bombs, want under 4 MiB", grew)
	}
}

// A flood of tiny frames from a client that reads nothing does not grow the
// server's memory beyond its caps, and another room sees nothing of it.
func TestTinyFrameFloodIsBounded(t *testing.T) {
	srv, url := startServer(t, Config{EventQueueMaxBytes: 64 << 10})
	other := dial(t, url, "calm", dialOpt{})
	other.expect(TypeHello)
	peer := dial(t, url, "calm", dialOpt{})
	peer.expect(TypeHello)
	other.expect(TypePresence)

	flooder := dial(t, url, "flood", dialOpt{frozen: true}) // never reads its errors
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	tiny := []byte{0x89, 'P'}
	deadline := time.Now().Add(5 * time.Second)
	sent := 0
	for ; sent < 200000 && time.Now().Before(deadline); sent++ {
		if err := flooder.ws.WriteMessage(gws.OpcodeBinary, tiny); err != nil {
			break // cut off: expected
		}
	}
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	grew := int64(m1.HeapInuse) - int64(m0.HeapInuse)
	t.Logf("%d tiny frames sent; heap in use grew by %d bytes", sent, grew)
	if grew > 32<<20 {
		t.Errorf("heap grew by %d bytes during the flood, want under 32 MiB", grew)
	}
	// The calm room still works, promptly.
	start := time.Now()
	peer.sendBinary(readTestdata(t, "photo-64x48.jpg"))
	other.expect(TypeFrame)
	if d := time.Since(start); d > time.Second {
		t.Errorf("calm room delivery took %s during the flood", d)
	}
	// The flood is cut off: by the rate limit (1008) or, if it reads
	// nothing fast enough, by its event queue cap (4002).
	waitFor(t, 5*time.Second, func() bool {
		m := scrape(t, srv)
		return strings.Contains(m, `canvasrelay_disconnects_total{code="1008",reason="policy"} 1`) ||
			strings.Contains(m, `canvasrelay_disconnects_total{code="4002",reason="queue_overflow"} 1`)
	}, "the flooder to be cut off for its rate (1008) or its queue (4002)")
	if q := srv.queuedBytes(); q > float64(64<<10)*4 {
		t.Errorf("queued bytes: got %.0f, want bounded by the caps", q)
	}
}

// A client still sending a too-big frame when the relay refuses it gets the
// 1009 close frame, not a reset (the relay drains it while closing).
func TestTooBigWhileStillSendingGets1009(t *testing.T) {
	_, url := startServer(t, Config{MaxBytes: 1 << 10})
	nc, br := rawConn(t, url, "toobig")
	const total = 4 << 20
	go func() {
		_, _ = nc.Write(frameHeader(0x2, total))
		chunk := make([]byte, 32<<10)
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := nc.Write(chunk); err != nil {
				return
			}
		}
	}()
	// Like a browser busy uploading, read nothing for a moment: without a
	// lingering close, the reset would wipe the unread close frame.
	time.Sleep(300 * time.Millisecond)
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	data, _ := io.ReadAll(br)
	i := strings.LastIndex(string(data), "\x88")
	if i < 0 || i+4 > len(data) {
		t.Fatalf("no close frame in %d bytes read", len(data))
	}
	if code := binary.BigEndian.Uint16(data[i+2 : i+4]); code != CloseTooBig {
		t.Fatalf("close code: got %d, want 1009", code)
	}
}
