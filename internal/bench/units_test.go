package bench

import (
	"bufio"
	"encoding/binary"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/client"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

func TestParseStatCPU(t *testing.T) {
	// utime 250 ticks, stime 50 ticks: 3 s at USER_HZ 100. The command name
	// holds spaces and a ')' to trip a naive split.
	fields := "S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 1000000 250"
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "1234 (canvasrelay) " + fields, 3 * time.Second, false},
		{"tricky name", "1234 (a b) c) " + fields, 3 * time.Second, false},
		{"no paren", "1234 canvasrelay " + fields, 0, true},
		{"short", "1234 (x) S 1 2", 0, true},
		{"not numbers", "1234 (x) S 1 1 1 0 -1 4 1 0 0 0 ab cd", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseStatusMem(t *testing.T) {
	status := "Name:\tcanvasrelay\nVmPeak:\t  900 kB\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\nThreads:\t8\n"
	rss, hwm, err := parseStatusMem([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if rss != 1024<<10 || hwm != 2048<<10 {
		t.Errorf("got rss %d hwm %d, want %d and %d", rss, hwm, 1024<<10, 2048<<10)
	}
	if _, _, err := parseStatusMem([]byte("Name:\tx\nVmRSS:\t1 kB\n")); err == nil {
		t.Error("status without VmHWM: got no error, want one")
	}
	if _, _, err := parseStatusMem([]byte("VmRSS:\t1 MB\nVmHWM:\t1 kB\n")); err == nil {
		t.Error("status in MB: got no error, want one")
	}
}

func TestReadProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatalf("/proc is needed: %v", err)
	}
	s, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.HWM < s.RSS {
		t.Errorf("got RSS %d, HWM %d; want RSS > 0 and HWM >= RSS", s.RSS, s.HWM)
	}
	if _, err := ReadProc(1 << 30); err == nil {
		t.Error("ReadProc of a pid that does not exist: got no error, want one")
	}
}

func TestPercentile(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(100-i) * time.Millisecond // reversed: summarize sorts
	}
	got := summarize(d)
	want := Latency{Count: 100, P50: 50, P95: 95, P99: 99, Max: 100, Mean: 50.5}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	tests := []struct {
		n    int
		p    float64
		want time.Duration
	}{
		{1, 50, 1}, {1, 99, 1}, {2, 50, 1}, {2, 51, 2}, {10, 95, 10}, {10, 90, 9},
	}
	for _, tt := range tests {
		s := make([]time.Duration, tt.n)
		for i := range s {
			s[i] = time.Duration(i + 1)
		}
		if got := percentile(s, tt.p); got != tt.want {
			t.Errorf("p%.0f of 1..%d: got %d, want %d", tt.p, tt.n, got, tt.want)
		}
	}
	if (summarize(nil) != Latency{}) {
		t.Error("summarize(nil): want zero")
	}
}

func TestMakePNG(t *testing.T) {
	lim := imageproc.Limits{MaxBytes: 9 << 20, MaxPixels: 4096 * 4096, Formats: []imageproc.Format{imageproc.PNG}}
	for _, size := range []int{128, 1000, 16 << 10, 100 << 10, 1 << 20} {
		b, err := makePNG(size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if len(b) < size || len(b) > size+2048 {
			t.Errorf("size %d: got %d bytes, want within [%d, %d]", size, len(b), size, size+2048)
		}
		if _, err := imageproc.Inspect(b, lim); err != nil {
			t.Errorf("size %d: the relay would reject it: %v", size, err)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	tests := []struct {
		raw  string
		want string // host:port, or "" for an error
	}{
		{"ws://127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://127.0.0.2:80/ws/x", "127.0.0.2:80"},
		{"ws://[::1]:9000", "[::1]:9000"},
		{"ws://localhost:1", "localhost:1"},
		{"ws://0.0.0.0:8080", ""},
		{"ws://10.1.2.3:8080", ""},
		{"ws://relay.example.com:443", ""},
		{"ftp://127.0.0.1:21", ""},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := parseBase(tt.raw)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP canvasrelay_disconnects_total Closed connections.
# TYPE canvasrelay_disconnects_total counter
canvasrelay_disconnects_total{code="1000",reason="client"} 7
canvasrelay_disconnects_total{code="4001",reason="slow_consumer"} 3
canvasrelay_disconnects_total{code="4001",reason="other"} 1
canvasrelay_disconnects_totally 99
canvasrelay_queued_bytes 1.5e+06
`
	m, err := parseMetrics(bufio.NewScanner(strings.NewReader(text)))
	if err != nil {
		t.Fatal(err)
	}
	if got := sumMetric(m, metricDisconnects, `code="4001"`); got != 4 {
		t.Errorf("4001 disconnects: got %g, want 4", got)
	}
	if got := sumMetric(m, metricDisconnects); got != 11 {
		t.Errorf("all disconnects: got %g, want 11", got)
	}
	if got := sumMetric(m, metricQueued); got != 1.5e6 {
		t.Errorf("queued bytes: got %g, want 1.5e6", got)
	}
}

// TestDrainRaw checks the close-frame finder against a server that writes
// frames (short, 16-bit and 64-bit lengths) and then a close 4001.
func TestDrainRaw(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		frame := func(op byte, payload []byte) []byte { return wire.AppendFrame(nil, op, payload) }
		_, _ = c.Write(frame(0x2, make([]byte, 1000)))
		_, _ = c.Write(frame(0x2, make([]byte, 70000)))
		_, _ = c.Write(frame(0x8, append(binary.BigEndian.AppendUint16(nil, 4001), "too slow"...)))
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	left := []byte{0x81, 2, '{', '}'} // a text frame read with the handshake
	r := drainRaw(nc, left, time.Now().Add(5*time.Second))
	if r.CloseCode != 4001 || r.Frames != 4 {
		t.Errorf("got close %d after %d frames, want 4001 after 4", r.CloseCode, r.Frames)
	}
	if want := int64(4 + 1004 + 70010 + 12); r.Bytes != want {
		t.Errorf("read %d bytes, want %d", r.Bytes, want)
	}
}

func TestRendSpecMismatch(t *testing.T) {
	r := rendSpec{Format: "jpeg", MaxWidth: 640, MaxHeight: 480}
	tests := []struct {
		name string
		info client.FrameInfo
		bad  bool
	}{
		{"fits", client.FrameInfo{Format: "jpeg", Width: 640, Height: 360}, false},
		{"wrong format", client.FrameInfo{Format: "png", Width: 640, Height: 360}, true},
		{"too wide", client.FrameInfo{Format: "jpeg", Width: 641, Height: 360}, true},
		{"too tall", client.FrameInfo{Format: "jpeg", Width: 320, Height: 481}, true},
		{"no event", client.FrameInfo{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.mismatch(tt.info) != ""; got != tt.bad {
				t.Errorf("mismatch(%+v) = %q, want bad %v", tt.info, r.mismatch(tt.info), tt.bad)
			}
		})
	}
}

func TestMakeCanvasPNG(t *testing.T) {
	b, err := makeCanvasPNG(640, 360)
	if err != nil {
		t.Fatal(err)
	}
	info, err := imageproc.Inspect(b, imageproc.Limits{MaxBytes: 8 << 20, MaxPixels: 1 << 24, Formats: []imageproc.Format{imageproc.PNG}})
	if err != nil || info.Width != 640 || info.Height != 360 {
		t.Errorf("got %+v, %v; want a 640x360 PNG", info, err)
	}
	if _, err := makeCanvasPNG(8, 8); err == nil {
		t.Error("8x8 canvas: got no error, want one")
	}
}

func TestCombineRepeats(t *testing.T) {
	mk := func(mbps, mem float64) *Report {
		r := &Report{Runs: []RunResult{{Name: "relay"}}}
		r.Ratios = []Ratio{{Name: "delivered MB/s, relay/floor", Value: mbps}}
		r.addTarget(Target{Name: "throughput", Value: mbps, Cmp: ">=", Limit: 0.8, Unit: "x"})
		r.addTarget(Target{Name: "memory", Value: mem, Cmp: "<=", Limit: 1000, Unit: "bytes"})
		return r
	}
	got := combine([]*Report{mk(0.7, 2000), mk(1.2, 500), mk(0.9, 900)})
	if len(got.Repeats) != 3 {
		t.Fatalf("repeats: got %d, want 3", len(got.Repeats))
	}
	if got.Ratios[0].Value != 0.9 {
		t.Errorf("median ratio: got %g, want 0.9", got.Ratios[0].Value)
	}
	if tg := got.Targets[0]; tg.Value != 0.9 || !tg.Met {
		t.Errorf("throughput target: got %g met %v, want 0.9 met", tg.Value, tg.Met)
	}
	if tg := got.Targets[1]; tg.Value != 900 || !tg.Met {
		t.Errorf("memory target: got %g met %v, want 900 met (one repeat over the limit does not decide)", tg.Value, tg.Met)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of 1..4: got %g, want 2.5", m)
	}
	o := &Options{reverse: true}
	if got := inOrder(o, []string{"relay", "floor"}); got[0] != "floor" {
		t.Errorf("reversed order: got %v, want floor first", got)
	}
}

func TestSeqOf(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{`{"type":"frame","client":"a","seq":42,"format":"png"}`, 42},
		{`{"type":"frame","seq":7}`, 7},
		{`{"type":"frame","client":"seq"}`, 0},
		{`{"type":"frame"}`, 0},
	}
	for _, tt := range tests {
		if got := seqOf([]byte(tt.in)); got != tt.want {
			t.Errorf("seqOf(%s): got %d, want %d", tt.in, got, tt.want)
		}
	}
}
