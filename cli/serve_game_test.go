package cli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/game"
	"github.com/spf13/pflag"
)

// noClaims stands for a cluster's claim store: the factory only keeps it.
type noClaims struct{}

func (noClaims) Node() string       { return "n" }
func (noClaims) TTL() time.Duration { return time.Second }
func (noClaims) Claim(context.Context, string) (uint64, bool, error) {
	return 0, false, errors.New("no claims")
}
func (noClaims) Renew(context.Context, string, uint64) (uint64, bool, error) {
	return 0, false, errors.New("no claims")
}
func (noClaims) Release(context.Context, string, uint64) error  { return nil }
func (noClaims) Holder(context.Context, string) (string, error) { return "", nil }

func TestGameOptions(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(good, []byte("kite\nice cream\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("kite\n\nr2d2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name    string
		args    []string
		cluster bool
		on      bool
		errPart string // "" = no error
	}{
		{"on by default", nil, false, true, ""},
		{"off", []string{"--games=false"}, false, false, ""},
		{"own words", []string{"--game-words", good}, false, true, ""},
		{"bad words name the line", []string{"--game-words", bad}, false, false, bad + ":3:"},
		{"bad words stop a cluster node too", []string{"--game-words", bad}, true, false, bad + ":3:"},
		{"missing file", []string{"--game-words", filepath.Join(dir, "nope.txt")}, false, false, "nope.txt"},
		{"words with games off", []string{"--games=false", "--game-words", good}, false, false, "needs games on"},
		{"on in a cluster", nil, true, true, ""},
		{"off in a cluster when asked", []string{"--games=false"}, true, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g gameOptions
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			g.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("parse %v: %v", tt.args, err)
			}
			var claims relay.GameClaims
			if tt.cluster {
				claims = noClaims{}
			}
			f, err := g.factory(log, claims)
			if tt.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("got error %v, want one containing %q", err, tt.errPart)
				}
				if strings.Contains(tt.name, "bad words") && !errors.Is(err, game.ErrBadWords) {
					t.Fatalf("got %v, want it to wrap game.ErrBadWords", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if (f != nil) != tt.on {
				t.Fatalf("factory: got non-nil %v, want %v", f != nil, tt.on)
			}
		})
	}
}

// TestServeGamesAcrossNodes: with `serve --broker`, games stay on and a
// room whose members sit on two nodes plays one game: a start on one node
// reaches the other, and the starter's stop ends it everywhere.
func TestServeGamesAcrossNodes(t *testing.T) {
	nc := startCmd(t, 90*time.Second, "nats", "--nats-addr", "127.0.0.1:0", "--nats-store", t.TempDir(), "--log-level", "warn")
	url := listenLine(t, nc, "canvasrelay nats listening on ")
	var addrs []string
	var nodes []*cmdRun
	for _, id := range []string{"g1", "g2"} {
		s := startCmd(t, 90*time.Second, "serve", "--addr", "127.0.0.1:0", "--broker", url, "--node-id", id, "--log-level", "warn")
		addrs = append(addrs, listenLine(t, s, "canvasrelay listening on http://"))
		nodes = append(nodes, s)
	}
	_, x := dialNatsText(t, addrs[0], "play", "x")
	x.nextEvent(t, "hello")
	yws, y := dialNatsText(t, addrs[1], "play", "y")
	y.nextEvent(t, "hello")
	x.nextEvent(t, "presence")
	if err := yws.WriteString(`{"type":"game","action":"start","seconds":15}`); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*natsTextClient{"x": x, "y": y} {
		ev := c.nextEvent(t, "game")
		if ev["event"] != "start" || ev["by"] != "y" {
			t.Fatalf("%s: got %v, want the start of y's game", name, ev)
		}
		if players, _ := ev["players"].([]any); len(players) != 2 {
			t.Fatalf("%s: got players %v, want x and y", name, ev["players"])
		}
	}
	if err := yws.WriteString(`{"type":"game","action":"stop"}`); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*natsTextClient{"x": x, "y": y} {
		for {
			ev := c.nextEvent(t, "game")
			if ev["event"] == "over" {
				break
			}
			if ev["event"] != "turn" && ev["event"] != "reveal" {
				t.Fatalf("%s: got %v, want turn, reveal, then over", name, ev)
			}
		}
	}
	for i, s := range nodes {
		if code := s.interrupt(t); code != 0 {
			t.Errorf("serve node %d: got exit code %d, want 0", i, code)
		}
	}
	if code := nc.interrupt(t); code != 0 {
		t.Errorf("nats: got exit code %d, want 0", code)
	}
}
