package relay

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleConnMemory opens 5,000 idle connections and reports the
// memory each costs (heap and stacks in use, after GC), in bytes/conn. The
// clients are bare TCP sockets in the same process, so their few hundred
// bytes are counted too. Target: at most 16 KiB per connection.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 5000
	for i := 0; i < b.N; i++ {
		srv, url := startServer(b, Config{MaxMembersPerRoom: n, MaxConnsPerIP: n + 10})
		host := strings.TrimPrefix(url, "ws://")
		before := inUse()
		conns := make([]net.Conn, 0, n)
		key := make([]byte, 16)
		_, _ = rand.Read(key)
		req := fmt.Sprintf("GET /ws/idle-%%d HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
			host, base64.StdEncoding.EncodeToString(key))
		buf := make([]byte, 4096)
		start := time.Now()
		for j := 0; j < n; j++ {
			c, err := net.Dial("tcp", host)
			if err != nil {
				b.Fatalf("dial %d: %v", j, err)
			}
			if _, err := fmt.Fprintf(c, req, j%50); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Read(buf); err != nil { // the 101 response (and maybe hello)
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		connectRate := float64(n) / time.Since(start).Seconds()
		waitFor(b, 10*time.Second, func() bool { return len(srv.snapshot()) == n }, "all connections registered")
		time.Sleep(100 * time.Millisecond) // let writers of hello and presence finish
		after := inUse()
		b.ReportMetric(float64(after-before)/n, "bytes/conn")
		b.ReportMetric(connectRate, "conns/s")
		for _, c := range conns {
			c.Close()
		}
	}
}

func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
