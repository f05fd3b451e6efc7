package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// TestMain lets a test run the program as main does: with
// CANVASRELAY_TEST_MAIN=1 the test binary is canvasrelay.
func TestMain(m *testing.M) {
	if os.Getenv("CANVASRELAY_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "canvasrelay:", err)
		}
		os.Exit(ExitCode(err))
	}
	os.Exit(m.Run())
}

type closeRecorder struct {
	gws.BuiltinEventHandler
	mu     sync.Mutex
	err    error
	hello  chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (c *closeRecorder) OnMessage(_ *gws.Conn, m *gws.Message) {
	if strings.Contains(m.Data.String(), `"type":"hello"`) {
		c.once.Do(func() { close(c.hello) })
	}
	m.Close()
}

func (c *closeRecorder) OnClose(_ *gws.Conn, err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	close(c.closed)
}

// startBinary runs the real binary (this test binary as main) and returns
// its address.
func startBinary(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd, line := startProcess(t, args...)
	addr, ok := strings.CutPrefix(line, "canvasrelay listening on http://")
	if !ok {
		addr, ok = strings.CutPrefix(line, "canvasrelay listening on https://")
	}
	if !ok {
		t.Fatalf("got %q, want the listen line", line)
	}
	return cmd, addr
}

// startProcess runs this test binary as main with args, killed at the
// test's end, and returns it with the first line it prints (trimmed).
func startProcess(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CANVASRELAY_TEST_MAIN=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%v: reading the first line: %v", args, err)
	}
	return cmd, strings.TrimSpace(line)
}

func TestSIGTERMSends1001AndExits(t *testing.T) {
	cmd, addr := startBinary(t, "serve", "--addr", "127.0.0.1:0", "--log-level", "warn")
	var recs []*closeRecorder
	for i := 0; i < 5; i++ {
		rec := &closeRecorder{hello: make(chan struct{}), closed: make(chan struct{})}
		c, _, err := gws.NewClient(rec, &gws.ClientOption{Addr: "ws://" + addr + "/ws/term"})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		go c.ReadLoop()
		select {
		case <-rec.hello:
		case <-time.After(5 * time.Second):
			t.Fatal("no hello")
		}
		recs = append(recs, rec)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		select {
		case <-rec.closed:
		case <-time.After(3 * time.Second):
			t.Fatalf("client %d not closed 3s after SIGTERM", i)
		}
		var ce *gws.CloseError
		rec.mu.Lock()
		err := rec.err
		rec.mu.Unlock()
		if !errors.As(err, &ce) || ce.Code != 1001 {
			t.Errorf("client %d: got %v, want close 1001", i, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v, want status 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("process still running 5s after SIGTERM")
	}
	t.Logf("all clients got 1001 and the process exited in %s", time.Since(start).Round(time.Millisecond))
}

func TestRunHelpAndUsageErrors(t *testing.T) {
	var out, errb strings.Builder
	if err := Run(context.Background(), []string{"serve", "--help"}, &out, &errb); ExitCode(err) != 0 {
		t.Fatalf("--help: got exit %d (%v), want 0", ExitCode(err), err)
	}
	if !strings.Contains(out.String(), "--max-bytes") || !strings.Contains(out.String(), "CANVASRELAY_MAX_BYTES") {
		t.Fatalf("--help does not list --max-bytes with its environment twin:\n%s", out.String())
	}
	for _, args := range [][]string{{"serve", "--log-format", "xml"}, {"serve", "--formats", "bmp"}, {"serve", "--max-bytes", "lots"}, {"frobnicate"}} {
		err := Run(context.Background(), args, &out, &errb)
		if ExitCode(err) != 2 {
			t.Errorf("%v: got exit %d (%v), want 2", args, ExitCode(err), err)
		}
	}
	t.Setenv("CANVASRELAY_LOG_FORMAT", "yaml")
	if err := Run(context.Background(), []string{"serve"}, &out, &errb); ExitCode(err) != 2 || !strings.Contains(err.Error(), "yaml") {
		t.Errorf("env twin: got %v, want a usage error naming yaml", err)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"8388608", 8 << 20}, {"8MiB", 8 << 20}, {"512 KiB", 512 << 10}, {"2MB", 2_000_000}, {"1GiB", 1 << 30}} {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q): got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-1", "lots", "1.5MiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): got no error", bad)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSideListeners: --metrics-addr moves /metrics off the main listener,
// and --pprof is only on its own address.
func TestSideListeners(t *testing.T) {
	maddr, paddr := freePort(t), freePort(t)
	_, addr := startBinary(t, "--addr", "127.0.0.1:0", "--metrics-addr", maddr, "--pprof", paddr, "--log-level", "error")
	if code, _ := httpGet(t, "http://"+addr+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the main listener: got %d, want 404", code)
	}
	if code, body := httpGet(t, "http://"+maddr+"/metrics"); code != 200 || !strings.Contains(body, "canvasrelay_connections") {
		t.Errorf("/metrics on --metrics-addr: got %d", code)
	}
	if code, _ := httpGet(t, "http://"+addr+"/debug/pprof/"); code == 200 {
		t.Errorf("pprof answers on the main listener")
	}
	if code, _ := httpGet(t, "http://"+paddr+"/debug/pprof/"); code != 200 {
		t.Errorf("pprof on --pprof: got %d, want 200", code)
	}
	if code, body := httpGet(t, "http://"+addr+"/api/rooms"); code != 200 || !strings.Contains(body, `"rooms"`) {
		t.Errorf("/api/rooms: got %d %s", code, body)
	}
}
