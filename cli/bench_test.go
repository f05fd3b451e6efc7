package cli

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/bench"
)

// runBenchJSON runs "canvasrelay bench ARGS --json" and decodes the report.
func runBenchJSON(t *testing.T, args ...string) *bench.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb strings.Builder
	err := Run(ctx, append(append([]string{"bench"}, args...), "--json"), &out, &errb)
	if err != nil {
		t.Fatalf("bench %v: %v\nstderr:\n%s\nstdout:\n%s", args, err, errb.String(), out.String())
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("bench %v --json: %v\n%s", args, err, out.String())
	}
	return &rep
}

func findRun(t *testing.T, rep *bench.Report, name string) bench.RunResult {
	t.Helper()
	for _, r := range rep.Runs {
		if r.Name == name {
			if r.Error != "" {
				t.Fatalf("run %s failed: %s", name, r.Error)
			}
			return r
		}
	}
	t.Fatalf("no run %q in %+v", name, rep.Runs)
	return bench.RunResult{}
}

func TestBenchFanoutQuickText(t *testing.T) {
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := Run(ctx, []string{"bench", "--quick", "fanout", "--subscribers", "3"}, &out, &errb); err != nil {
		t.Fatalf("bench --quick fanout: %v\n%s", err, errb.String())
	}
	for _, want := range []string{"delivered MB/s", "latency p99 ms", "delivered MB/s, relay/floor", "subscribers=3", "targets (issue 9)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// startFloorBinary runs "canvasrelay bench floor-server" as its own process
// and returns it with its ws:// URL.
func startFloorBinary(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	cmd, line := startProcess(t, "bench", "floor-server", "--addr", "127.0.0.1:0")
	rest, ok := strings.CutPrefix(line, "floor listening on ")
	if !ok {
		t.Fatalf("got %q, want the floor's listen line", line)
	}
	url, _, _ := strings.Cut(rest, " ")
	return cmd, url
}

// TestBenchSeparateProcesses measures a real "canvasrelay serve" and a
// floor-server, each in its own process, with --url/--pid and
// --floor-url/--floor-pid. The server keeps its default rate limits
// (30 frames/s per connection), so the publisher stays under them.
func TestBenchSeparateProcesses(t *testing.T) {
	srv, addr := startBinary(t, "serve", "--addr", "127.0.0.1:0", "--log-level", "error")
	flo, floorURL := startFloorBinary(t)
	rep := runBenchJSON(t, "fanout", "--quick", "--rate", "20", "--frames", "15",
		"--url", "ws://"+addr, "--pid", strconv.Itoa(srv.Process.Pid),
		"--floor-url", floorURL, "--floor-pid", strconv.Itoa(flo.Process.Pid))
	if strings.HasPrefix(rep.Relay, "in-process") || strings.HasPrefix(rep.Floor, "in-process") {
		t.Errorf("relay %q, floor %q: want both outside this process", rep.Relay, rep.Floor)
	}
	for name, pid := range map[string]int{"relay": srv.Process.Pid, "floor": flo.Process.Pid} {
		r := findRun(t, rep, name)
		if r.Proc == nil || r.Proc.PID != pid || r.Proc.RSSStart == 0 {
			t.Errorf("%s proc: got %+v, want /proc of pid %d", name, r.Proc, pid)
		}
		if r.Fanout.Published != 15 || r.Fanout.GotLast != r.Fanout.Subscribers {
			t.Errorf("%s: published %d, %d/%d got the last; want 15 and all", name, r.Fanout.Published, r.Fanout.GotLast, r.Fanout.Subscribers)
		}
	}
}

func TestBenchUsageAndExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string // in the error
	}{
		{"no scenario", []string{"bench"}, 2, "needs a scenario"},
		{"unknown scenario", []string{"bench", "warp"}, 2, "unknown scenario"},
		{"remote url", []string{"bench", "fanout", "--url", "ws://10.0.0.1:8080"}, 2, "loopback"},
		{"bad size", []string{"bench", "fanout", "--size", "huge"}, 2, "size"},
		{"stray argument", []string{"bench", "fanout", "--quick", "extra"}, 2, "extra"},
		{"cluster with url", []string{"bench", "cluster", "--url", "ws://127.0.0.1:1"}, 2, "own NATS"},
		{"bad canvas", []string{"bench", "renditions", "--width", "5"}, 2, "canvas"},
		{"floor-server remote", []string{"bench", "floor-server", "--addr", "10.0.0.1:0"}, 2, "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			err := Run(context.Background(), tt.args, &out, &errb)
			if ExitCode(err) != tt.code {
				t.Fatalf("got exit %d (%v), want %d", ExitCode(err), err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestBenchHelpListsScenariosAndTwins(t *testing.T) {
	var out, errb strings.Builder
	if err := Run(context.Background(), []string{"bench", "--help"}, &out, &errb); ExitCode(err) != 0 {
		t.Fatalf("--help: got exit %d (%v), want 0", ExitCode(err), err)
	}
	for _, want := range []string{"fanout", "stalled", "idle", "renditions", "cluster", "--subscribers", "CANVASRELAY_SUBSCRIBERS", "--cpuprofile"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchEnvironmentTwin(t *testing.T) {
	t.Setenv("CANVASRELAY_SUBSCRIBERS", "2")
	rep := runBenchJSON(t, "fanout", "--quick")
	if got := findRun(t, rep, "relay").Fanout.Subscribers; got != 2 {
		t.Errorf("CANVASRELAY_SUBSCRIBERS=2: got %d subscribers, want 2", got)
	}
}

// TestBenchPatchesNoChromium: without a browser the patches scenario fails
// with a message that names the flag and the variable to point at one.
func TestBenchPatchesNoChromium(t *testing.T) {
	var out, errb strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Run(ctx, []string{"bench", "patches", "--chromium", "/nonexistent/chromium"}, &out, &errb)
	if err == nil {
		t.Fatalf("bench patches with a missing browser succeeded:\n%s", out.String())
	}
	for _, want := range []string{"--chromium", "/nonexistent/chromium", "Chromium"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if code := ExitCode(err); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
}
