package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/client"
	"github.com/spf13/cobra"
)

// Issue 16, done means 2: flags go before or after the positional arguments.

func TestWatchFlagsAnywhere(t *testing.T) {
	r := startRelay(t, relay.Config{})
	for name, order := range map[string]func(url, dir string) []string{
		"flags first": func(url, dir string) []string { return []string{"watch", "--out", dir, "--count", "1", url} },
		"flags after": func(url, dir string) []string { return []string{"watch", url, "--out", dir, "--count", "1"} },
		"flags mixed": func(url, dir string) []string { return []string{"watch", "--count", "1", url, "--out", dir} },
	} {
		t.Run(name, func(t *testing.T) {
			room := strings.ReplaceAll(name, " ", "-")
			dir := t.TempDir()
			w := startCmd(t, 30*time.Second, order(r.url(room), dir)...)
			waitUntil(t, 10*time.Second, "watch to connect", func() bool { return strings.Contains(w.stderr.String(), "connected to room "+room) })
			pub := dialTest(t, client.Config{URL: r.url(room), ClientID: "pub"})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := pub.Send(ctx, makePNG(t, 8, 8, 1)); err != nil {
				t.Fatal(err)
			}
			if code := w.wait(t); code != 0 {
				t.Fatalf("exit code: got %d, want 0", code)
			}
			if _, err := os.Stat(filepath.Join(dir, "pub-1.png")); err != nil {
				t.Fatalf("--out: %v", err)
			}
		})
	}
}

func TestSendFlagsAnywhere(t *testing.T) {
	r := startRelay(t, relay.Config{})
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.png", i)), makePNG(t, 8, 8, i))
	}
	for name, args := range map[string][]string{
		"flags first": {"send", "--fps", "2", r.url("first"), dir},
		"flags after": {"send", r.url("after"), dir, "--fps", "2"},
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			stdout, _, code := runCmd(t, args...)
			if code != 0 {
				t.Fatalf("exit code: got %d, want 0", code)
			}
			if total, acc, _, _ := summary(t, stdout); total != 2 || acc != 2 {
				t.Fatalf("got %d files %d accepted, want 2 and 2", total, acc)
			}
			// Two sends at 2 per second: the second starts 500ms after the first.
			if el := time.Since(start); el < 500*time.Millisecond {
				t.Errorf("2 files at --fps 2 took %v, want at least 500ms (--fps ignored?)", el)
			}
		})
	}
}

func TestServeFlagsAnywhere(t *testing.T) {
	for name, args := range map[string][]string{
		"serve then flags": {"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"},
		"flags then serve": {"--addr", "127.0.0.1:0", "serve", "--log-level", "warn"},
		"no command":       {"--log-level", "warn", "--addr", "127.0.0.1:0"},
		"go flag spelling": {"-addr", "127.0.0.1:0", "-log-level=warn"},
	} {
		t.Run(name, func(t *testing.T) {
			c := startCmd(t, 30*time.Second, args...)
			addr := listenLine(t, c, "canvasrelay listening on http://")
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: got %d, want 200", resp.StatusCode)
			}
			if code := c.interrupt(t); code != 0 {
				t.Fatalf("exit code: got %d, want 0", code)
			}
		})
	}
}

func TestSendExitCodesKept(t *testing.T) {
	r := startRelay(t, relay.Config{})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.png"), makePNG(t, 8, 8, 1))
	writeFile(t, filepath.Join(dir, "b.png"), []byte("not an image at all"))
	if _, _, code := runCmd(t, "send", r.url("codes"), filepath.Join(dir, "a.png"), "--timeout", "5s"); code != 0 {
		t.Errorf("all accepted: got exit %d, want 0", code)
	}
	if _, _, code := runCmd(t, "send", r.url("codes"), dir, "--timeout", "5s"); code != 1 {
		t.Errorf("one rejected: got exit %d, want 1", code)
	}
	if _, _, code := runCmd(t, "send", r.url("codes"), dir, "--fps"); code != 2 {
		t.Errorf("--fps without a value: got exit %d, want 2", code)
	}
	if _, _, code := runCmd(t, "send", "ws://127.0.0.1:1/ws/x", dir, "--timeout", "1s"); code != 2 {
		t.Errorf("no server: got exit %d, want 2", code)
	}
}

func TestCompletionAndHelp(t *testing.T) {
	stdout, _, code := runCmd(t, "completion", "bash")
	if code != 0 || !strings.Contains(stdout, "complete -o") || !strings.Contains(stdout, "canvasrelay") {
		t.Fatalf("completion bash: exit %d, got %.200q…", code, stdout)
	}
	// What the bash script asks the binary when TAB follows "send --f".
	stdout, _, code = runCmd(t, "__complete", "send", "--f")
	if code != 0 || !strings.Contains(stdout, "--fps") {
		t.Fatalf("__complete send --f: exit %d, got %q, want --fps", code, stdout)
	}
	stdout, _, code = runCmd(t, "--help")
	for _, cmd := range []string{"serve", "send", "watch", "token", "nats", "bench", "completion", "version"} {
		if code != 0 || !strings.Contains(stdout, "\n  "+cmd+" ") {
			t.Errorf("canvasrelay --help (exit %d) does not list %s:\n%s", code, cmd, stdout)
		}
	}
}

// Every flag of every command names its environment twin in --help, and the
// twin sets it.
func TestEveryFlagHasItsEnvironmentTwin(t *testing.T) {
	root, _ := newRoot(&strings.Builder{}, &strings.Builder{})
	n := 0
	for name := range longFlagNames(root) {
		if name == "help" {
			continue
		}
		n++
		found := false
		for _, c := range allCommands(root) {
			if f := c.Flags().Lookup(name); f != nil {
				found = true
				if !strings.Contains(f.Usage, "$"+envName(name)) {
					t.Errorf("%s --%s: help does not name $%s", c.Name(), name, envName(name))
				}
			}
		}
		if !found {
			t.Errorf("--%s not found", name)
		}
	}
	if n < 60 {
		t.Errorf("got %d flags, want the 60 or more of all commands", n)
	}
	t.Setenv("CANVASRELAY_FPS", "-3")
	if _, stderr, code := runCmd(t, "send", "ws://127.0.0.1:1/ws/x", "x.png"); code != 2 || !strings.Contains(stderr, "--fps") {
		t.Errorf("CANVASRELAY_FPS=-3: got exit %d (%s), want 2 naming --fps", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"watch", "http://127.0.0.1:1/r/x", "--no-such-flag"},
		{"serve", "stray"},
		{"watch"},
		{"send", "--watch", "http://127.0.0.1:1/r/x", "a.png", "b.png"},
	} {
		if _, stderr, code := runCmd(t, args...); code != 2 {
			t.Errorf("%q: got exit %d (%s), want 2", args, code, stderr)
		}
	}
}

func allCommands(c *cobra.Command) []*cobra.Command {
	all := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		all = append(all, allCommands(sub)...)
	}
	return all
}
