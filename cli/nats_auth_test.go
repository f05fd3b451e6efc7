package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"
)

// Issue 14, "Embedded NATS is not an open door": a NATS server that
// canvasrelay starts refuses anonymous clients when it listens beyond
// loopback, and the relay nodes still work with the credentials.

// anonymousConnect tries a NATS connection with no credentials and, if it
// gets in, subscribes to everything (as the attack did: SUB > read the
// drawer-only word).
func anonymousConnect(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.SubscribeSync(">"); err != nil {
		return err
	}
	return nc.Flush()
}

// localURL turns nats://0.0.0.0:PORT into a URL this machine can dial.
func localURL(url string) string {
	return strings.Replace(url, "://0.0.0.0:", "://127.0.0.1:", 1)
}

func TestNatsCommandBeyondLoopbackRefusesAnonymous(t *testing.T) {
	store := t.TempDir()
	nc := startCmd(t, 90*time.Second, "nats", "--nats-addr", "0.0.0.0:0", "--nats-store", store, "--log-level", "warn")
	url := localURL(listenLine(t, nc, "canvasrelay nats listening on "))
	if err := anonymousConnect(url); err == nil {
		t.Fatalf("anonymous client connected to %s and subscribed to >, want it refused", url)
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("anonymous connect: got %v, want an authorization violation", err)
	}
	creds := listenLine(t, nc, "credentials: ")
	st, err := os.Stat(creds)
	if err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode: got %v, want 0600", st.Mode().Perm())
	}
	// Two relay nodes join with the credentials and share a room.
	var addrs []string
	var nodes []*cmdRun
	for _, id := range []string{"n1", "n2"} {
		s := startCmd(t, 90*time.Second, "serve", "--addr", "127.0.0.1:0", "--broker", url, "--nats-creds", creds, "--node-id", id, "--log-level", "warn")
		addrs = append(addrs, listenLine(t, s, "canvasrelay listening on http://"))
		nodes = append(nodes, s)
	}
	_, x := dialNatsText(t, addrs[0], "auth", "x")
	if got := x.nextEvent(t, "hello")["count"]; got != 1.0 {
		t.Fatalf("x: got hello count %v, want 1", got)
	}
	yws, y := dialNatsText(t, addrs[1], "auth", "y")
	if got := y.nextEvent(t, "hello")["count"]; got != 2.0 {
		t.Fatalf("y: got hello count %v, want 2 (x on the other node)", got)
	}
	if err := yws.WriteString("through authenticated NATS"); err != nil {
		t.Fatal(err)
	}
	if ev := x.nextEvent(t, "chat"); ev["text"] != "through authenticated NATS" {
		t.Fatalf("x: got chat %v, want y's line", ev)
	}
	// Without them it cannot join.
	if _, stderr, code := runCmd(t, "serve", "--addr", "127.0.0.1:0", "--broker", url, "--log-level", "warn"); code == 0 || !strings.Contains(strings.ToLower(stderr), "authorization") {
		t.Errorf("serve --broker without --nats-creds: got exit %d, stderr %q; want a failure naming authorization", code, stderr)
	}
	for i, s := range nodes {
		if code := s.interrupt(t); code != 0 {
			t.Errorf("serve node %d: got exit %d, want 0", i, code)
		}
	}
	if code := nc.interrupt(t); code != 0 {
		t.Errorf("nats: got exit %d, want 0", code)
	}
	// A restart keeps the same credentials, so copies on other nodes stay good.
	nc2 := startCmd(t, 90*time.Second, "nats", "--nats-addr", "0.0.0.0:0", "--nats-store", store, "--log-level", "warn")
	url2 := localURL(listenLine(t, nc2, "canvasrelay nats listening on "))
	if got := listenLine(t, nc2, "credentials: "); got != creds {
		t.Errorf("after a restart: credentials %q, want the same file %q", got, creds)
	}
	conn, err := nats.Connect(url2, nats.UserCredentials(creds), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect with the kept credentials after a restart: %v", err)
	}
	conn.Close()
}

func TestServeEmbeddedNATSBeyondLoopbackRefusesAnonymous(t *testing.T) {
	store := t.TempDir()
	s := startCmd(t, 90*time.Second, "serve", "--addr", "127.0.0.1:0", "--embedded-nats",
		"--embedded-nats-addr", "0.0.0.0:0", "--embedded-nats-store", store, "--log-level", "info")
	addr := listenLine(t, s, "canvasrelay listening on http://")
	// The local node works: it uses the generated credentials.
	_, x := dialNatsText(t, addr, "emb", "x")
	if got := x.nextEvent(t, "hello")["count"]; got != 1.0 {
		t.Fatalf("x: got hello count %v, want 1", got)
	}
	var url string
	waitUntil(t, 10*time.Second, "the embedded NATS url in the log", func() bool {
		for _, l := range strings.Split(s.stderr.String(), "\n") {
			if _, rest, ok := strings.Cut(l, "url=nats://"); ok {
				url = localURL("nats://" + strings.Fields(rest)[0])
				return true
			}
		}
		return false
	})
	if err := anonymousConnect(url); err == nil {
		t.Fatalf("anonymous client connected to the embedded NATS at %s and subscribed to >, want it refused", url)
	}
	creds := filepath.Join(store, "canvasrelay.creds")
	conn, err := nats.Connect(url, nats.UserCredentials(creds), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect with the generated credentials %s: %v", creds, err)
	}
	conn.Close()
	if code := s.interrupt(t); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// Both commands listen on loopback unless told otherwise.
func TestNATSListensOnLoopbackByDefault(t *testing.T) {
	var o serveOptions
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	serveFlags(&o, fs)
	root, _ := newRoot(&strings.Builder{}, &strings.Builder{})
	natsCmd, _, err := root.Find([]string{"nats"})
	if err != nil {
		t.Fatal(err)
	}
	for name, def := range map[string]string{
		"serve --embedded-nats-addr": fs.Lookup("embedded-nats-addr").DefValue,
		"nats --nats-addr":           natsCmd.Flags().Lookup("nats-addr").DefValue,
	} {
		if !strings.HasPrefix(def, "127.0.0.1:") {
			t.Errorf("%s: default %q, want 127.0.0.1:PORT", name, def)
		}
	}
	// On loopback, anonymous clients (this machine only) still work.
	nc := startCmd(t, 60*time.Second, "nats", "--nats-addr", "127.0.0.1:0", "--nats-store", t.TempDir(), "--log-level", "warn")
	url := listenLine(t, nc, "canvasrelay nats listening on ")
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("got %q, want nats://127.0.0.1:PORT", url)
	}
	if err := anonymousConnect(url); err != nil {
		t.Errorf("anonymous client on loopback: %v, want it served", err)
	}
}
