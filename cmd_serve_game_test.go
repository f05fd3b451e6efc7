package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canvasrelay/canvasrelay/relay/game"
)

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
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			g.register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatalf("parse %v: %v", tt.args, err)
			}
			f, err := g.factory(log, tt.cluster)
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
