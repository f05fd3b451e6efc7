package client

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// cutProxy forwards TCP connections to a relay, and can cut them all, as a
// network drop does.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { defer p.wg.Done(); _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

// cut closes every connection through the proxy.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// A Client keeps the client id and resume of its hello and sends both on a
// reconnect, so the relay grants the same id although its layer holds it;
// a client that reconnects with the id alone gets a fresh id, and adopts it.
func TestRealRelayReconnectKeepsIdentity(t *testing.T) {
	r := startRealRelay(t, relay.Config{})
	u, _ := url.Parse(r.http.URL)
	p := startCutProxy(t, u.Host)
	room := "http://" + p.ln.Addr().String() + "/r/id"
	img := testdata(t, "canvas-opaque-64x48.png")

	c := dial(t, Config{URL: room, ClientID: "painter", Reconnect: true, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	ctx := ctxT(t, 20*time.Second)
	if _, err := c.Send(ctx, img); err != nil { // the layer now holds "painter"
		t.Fatal(err)
	}
	resume := c.Resume()
	if c.ClientID() != "painter" || resume == "" || len(resume) > relay.ResumeMaxLen {
		t.Fatalf("first hello: client %q resume %q, want painter and a resume", c.ClientID(), resume)
	}
	p.cut()
	waitFor(t, "reconnect", func() bool { return c.Stats().Connects == 2 && c.Connected() })
	if h := c.Hello(); h.Client != "painter" || h.Resume != resume {
		t.Errorf("after reconnect: hello client %q resume %q, want painter and the same resume", h.Client, h.Resume)
	}

	// The id alone, without its resume (another program naming it), is not
	// granted while the layer holds it: the Client adopts the fresh id, and
	// reconnects with that one.
	o := dial(t, Config{URL: room, ClientID: "painter", Reconnect: true, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	fresh := o.ClientID()
	if fresh == "painter" || o.Resume() == "" || o.Resume() == resume {
		t.Fatalf("unproven id: got client %q resume %q, want a fresh id with its own resume", fresh, o.Resume())
	}
	if _, err := o.Send(ctx, img); err != nil {
		t.Fatal(err)
	}
	p.cut()
	waitFor(t, "both reconnect", func() bool {
		return c.Stats().Connects == 3 && o.Stats().Connects == 2 && c.Connected() && o.Connected()
	})
	if c.ClientID() != "painter" || o.ClientID() != fresh {
		t.Errorf("after the second drop: %q and %q, want painter and %q", c.ClientID(), o.ClientID(), fresh)
	}
	if o.Hello().Client != fresh {
		t.Errorf("second client's hello %q, want %q", o.Hello().Client, fresh)
	}

	// A later program that kept the id and its resume (Config.Resume) is
	// that client again on its first dial.
	later := dial(t, Config{URL: room, ClientID: "painter", Resume: resume})
	if later.ClientID() != "painter" || later.Resume() != resume {
		t.Errorf("Config.Resume on the first dial: got %q/%q, want painter and its resume", later.ClientID(), later.Resume())
	}
}
