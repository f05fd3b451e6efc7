package relay

import (
	"encoding/binary"
	"testing"
	"time"
)

// TestAbuseFragmentKeptAliveByPings: a client that sends the first fragment
// of a message (FIN=0) and then only pings holds the partial message (up to
// MaxBytes of server memory) for as long as it likes, because every ping
// counts as activity. It should be closed like any stalled frame: no message
// may stay incomplete longer than ReadTimeout.
func TestFragmentKeptAliveByPingsIsClosed(t *testing.T) {
	cfg := Config{MaxBytes: 1 << 20, PingInterval: 250 * time.Millisecond, ReadTimeout: time.Second, ShutdownGrace: 300 * time.Millisecond}
	_, url := startServer(t, cfg)
	nc, br := rawConn(t, url, "frag")
	const n = 512 << 10
	h := []byte{0x02, 0x80 | 127} // binary, FIN=0, masked, 64-bit length
	h = binary.BigEndian.AppendUint64(h, n)
	h = append(h, 0, 0, 0, 0) // zero mask key
	if _, err := nc.Write(append(h, make([]byte, n)...)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan int, 1)
	go func() { code, _ := readClose(br); closed <- code }()
	ping := []byte{0x89, 0x80, 0, 0, 0, 0} // masked, empty ping
	limit := cfg.ReadTimeout + cfg.PingInterval + 3*time.Second
	deadline := time.After(limit)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case code := <-closed:
			if code != ClosePingTimeout {
				t.Fatalf("got close code %d, want 4003", code)
			}
			return
		case <-tick.C:
			_, _ = nc.Write(ping)
		case <-deadline:
			t.Fatalf("a connection that keeps a %d-byte message incomplete and pings is still open after %s (ReadTimeout %s)", n, limit, cfg.ReadTimeout)
		}
	}
}
