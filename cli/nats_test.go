package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// listenLine waits for a line of c's stdout that starts with prefix and
// returns the rest of it.
func listenLine(t *testing.T, c *cmdRun, prefix string) string {
	t.Helper()
	var rest string
	waitUntil(t, 30*time.Second, "the line "+prefix, func() bool {
		for _, l := range strings.Split(c.stdout.String(), "\n") {
			if r, ok := strings.CutPrefix(l, prefix); ok {
				rest = strings.TrimSpace(r)
				return true
			}
		}
		select {
		case <-c.done:
			t.Fatalf("command ended: %v\nstderr:\n%s", c.err, c.stderr.String())
		default:
		}
		return false
	})
	return rest
}

// natsTextClient is a gws client that keeps the text events it reads.
type natsTextClient struct {
	gws.BuiltinEventHandler
	events chan map[string]any
}

func (c *natsTextClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	if m.Opcode != gws.OpcodeText {
		return
	}
	var ev map[string]any
	if json.Unmarshal(m.Bytes(), &ev) == nil {
		select {
		case c.events <- ev:
		default:
		}
	}
}

func (c *natsTextClient) OnPing(s *gws.Conn, p []byte) { _ = s.WritePong(p) }

func dialNatsText(t *testing.T, addr, room, client string) (*gws.Conn, *natsTextClient) {
	t.Helper()
	h := &natsTextClient{events: make(chan map[string]any, 64)}
	ws, _, err := gws.NewClient(h, &gws.ClientOption{Addr: "ws://" + addr + "/ws/" + room + "?client=" + client})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	go ws.ReadLoop()
	t.Cleanup(func() { _ = ws.NetConn().Close() })
	return ws, h
}

// nextEvent returns the next event of type typ, skipping others.
func (c *natsTextClient) nextEvent(t *testing.T, typ string) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ev["type"] == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within 10s", typ)
			return nil
		}
	}
}

// TestNatsCommandServesTwoNodes: `canvasrelay nats` and two `serve --broker`
// nodes make one room: counts are room-wide and chat crosses nodes.
func TestNatsCommandServesTwoNodes(t *testing.T) {
	nc := startCmd(t, 90*time.Second, "nats", "--nats-addr", "127.0.0.1:0", "--nats-store", t.TempDir(), "--log-level", "warn")
	url := listenLine(t, nc, "canvasrelay nats listening on ")
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("got NATS url %q, want nats://127.0.0.1:PORT", url)
	}
	var addrs []string
	var nodes []*cmdRun
	for _, id := range []string{"n1", "n2"} {
		s := startCmd(t, 90*time.Second, "serve", "--addr", "127.0.0.1:0", "--broker", url, "--node-id", id, "--log-level", "warn")
		addrs = append(addrs, listenLine(t, s, "canvasrelay listening on http://"))
		nodes = append(nodes, s)
	}
	_, x := dialNatsText(t, addrs[0], "cli", "x")
	if got := x.nextEvent(t, "hello")["count"]; got != 1.0 {
		t.Fatalf("x: got hello count %v, want 1", got)
	}
	yws, y := dialNatsText(t, addrs[1], "cli", "y")
	if got := y.nextEvent(t, "hello")["count"]; got != 2.0 {
		t.Fatalf("y: got hello count %v, want 2 (x on the other node)", got)
	}
	if ev := x.nextEvent(t, "presence"); ev["client"] != "y" || ev["count"] != 2.0 {
		t.Fatalf("x: got presence %v, want y joining, count 2", ev)
	}
	if err := yws.WriteString("across nodes"); err != nil {
		t.Fatal(err)
	}
	if ev := x.nextEvent(t, "chat"); ev["text"] != "across nodes" || ev["client"] != "y" {
		t.Fatalf("x: got chat %v, want y's line", ev)
	}
	for i, s := range nodes {
		resp, err := http.Get("http://" + addrs[i] + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("node %d readyz: got %v %v, want 200", i, resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
		if code := s.interrupt(t); code != 0 {
			t.Errorf("serve node %d: got exit code %d, want 0", i, code)
		}
	}
	if code := nc.interrupt(t); code != 0 {
		t.Errorf("nats: got exit code %d, want 0", code)
	}
}

// TestServeRefusesSmallMaxPayload: serve checks NATS's max_payload against
// --max-bytes at startup and says what to set.
func TestServeRefusesSmallMaxPayload(t *testing.T) {
	nc := startCmd(t, 60*time.Second, "nats", "--nats-addr", "127.0.0.1:0", "--nats-store", t.TempDir(), "--max-payload", "1MiB", "--log-level", "warn")
	url := listenLine(t, nc, "canvasrelay nats listening on ")
	_, stderr, code := runCmd(t, "serve", "--addr", "127.0.0.1:0", "--broker", url, "--max-bytes", "8MiB", "--log-level", "warn")
	if code != 1 || !strings.Contains(stderr, "max_payload: 16MB") {
		t.Errorf("got exit code %d and stderr %q, want 1 and a message saying `max_payload: 16MB`", code, stderr)
	}
}

// TestServeEmbeddedNATS: serve --embedded-nats needs nothing else.
func TestServeEmbeddedNATS(t *testing.T) {
	s := startCmd(t, 60*time.Second, "serve", "--addr", "127.0.0.1:0", "--embedded-nats",
		"--embedded-nats-addr", "127.0.0.1:0", "--embedded-nats-store", t.TempDir(), "--log-level", "warn")
	addr := listenLine(t, s, "canvasrelay listening on http://")
	_, x := dialNatsText(t, addr, "emb", "x")
	if got := x.nextEvent(t, "hello")["count"]; got != 1.0 {
		t.Fatalf("x: got hello count %v, want 1", got)
	}
	if code := s.interrupt(t); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

func TestBrokerFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"scheme", []string{"--broker", "http://127.0.0.1:4222"}, "want nats://host:port"},
		{"storage", []string{"--broker", "nats://127.0.0.1:1", "--layer-storage", "disk"}, "--layer-storage"},
		{"creds alone", []string{"--nats-creds", "x.creds"}, "need --broker"},
		{"node id", []string{"--broker", "nats://127.0.0.1:1", "--node-id", "a.b"}, "--node-id"},
		{"embedded addr", []string{"--embedded-nats", "--embedded-nats-addr", "nowhere"}, "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn"}, tt.args...)
			_, stderr, code := runCmd(t, args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("got exit code %d and stderr %q, want 2 and %q", code, stderr, tt.want)
			}
		})
	}
	if _, stderr, code := runCmd(t, "nats", "--max-payload", "65MiB"); code != 2 || !strings.Contains(stderr, "64MiB") {
		t.Errorf("nats --max-payload 65MiB: got exit code %d and stderr %q, want 2 and the 64MiB limit", code, stderr)
	}
}
