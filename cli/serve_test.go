package cli

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/client"
)

// defaultServeOptions are the serve flags with nothing given.
func defaultServeOptions(t *testing.T) *serveOptions {
	t.Helper()
	var o serveOptions
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	serveFlags(&o, fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return &o
}

// The serve type starts on 127.0.0.1:0, serves rooms, and stops with its
// context.
func TestServeTypeOnPortZero(t *testing.T) {
	o := defaultServeOptions(t)
	o.addr = "127.0.0.1:0"
	o.logLevel = "warn"
	var stdout syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := newServe(ctx, o, &stdout, tlog{t, "serve"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	base := "http://" + s.Addr().String()

	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: got %d, want 200", resp.StatusCode)
	}
	c := dialTest(t, client.Config{URL: base + "/r/port0", ClientID: "a"})
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if ack, err := c.Send(sctx, makePNG(t, 8, 8, 1)); err != nil || ack.Seq != 1 {
		t.Fatalf("send: got %+v %v, want seq 1", ack, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: got %v, want nil after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !strings.Contains(stdout.String(), "canvasrelay listening on http://"+s.Addr().String()) {
		t.Errorf("stdout: got %q, want the listen line", stdout.String())
	}
}

// The flags take their defaults from relay.DefaultConfig: serve with no
// flags runs the relay's defaults.
func TestServeFlagDefaultsAreTheRelayDefaults(t *testing.T) {
	cfg, err := defaultServeOptions(t).relayConfig()
	if err != nil {
		t.Fatal(err)
	}
	d := relay.DefaultConfig()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"max-bytes", cfg.MaxBytes, d.MaxBytes},
		{"max-pixels", cfg.MaxPixels, d.MaxPixels},
		{"formats", formatList(cfg.Formats), formatList(d.Formats)},
		{"max-layers", cfg.MaxLayers, d.MaxLayers},
		{"write-timeout", cfg.WriteTimeout, d.WriteTimeout},
		{"ping-interval", cfg.PingInterval, d.PingInterval},
		{"max-conns", cfg.MaxConns, d.MaxConns},
		{"max-rooms", cfg.MaxRooms, d.MaxRooms},
		{"max-members", cfg.MaxMembersPerRoom, d.MaxMembersPerRoom},
		{"frame-rate", cfg.FrameRate, d.FrameRate},
		{"frame burst", cfg.FrameBurst, d.FrameBurst},
		{"byte-rate", cfg.ByteRate, d.ByteRate},
		{"chat-rate", cfg.ChatRate, d.ChatRate},
		{"max-conns-per-ip", cfg.MaxConnsPerIP, d.MaxConnsPerIP},
	} {
		if c.got != c.want {
			t.Errorf("--%s: flag default %v, relay default %v", c.name, c.got, c.want)
		}
	}
}

// runServe's policy checks now live in relay.Config.Validate; serve
// reports them as usage errors before it opens anything.
func TestServePolicyErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--addr", "127.0.0.1:0", "--tls-cert", "c.pem"}, "TLSCertFile and TLSKeyFile go together"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--auth-secret", "short"}, "too short"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--ingest", "normalize", "--ingest-quality", "101"}, "quality"},
		{[]string{"serve", "--addr", "127.0.0.1:0", "--ingest", "sometimes"}, "--ingest"},
	} {
		err := Run(context.Background(), tt.args, io.Discard, io.Discard)
		if ExitCode(err) != 2 || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got exit %d (%v), want 2 and %q", tt.args, ExitCode(err), err, tt.want)
		}
	}
}
