package client

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogger sends the client's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func dial(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", cfg.URL, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDialHelloAndQuery(t *testing.T) {
	f := newFakeRelay(t)
	f.token = "s3cret"
	c := dial(t, Config{URL: f.url("room1"), Name: "Ann Lee", ClientID: "cid-1", Token: "s3cret"})
	h := c.Hello()
	if h.Client != "cid-1" || h.MaxBytes != f.maxBytes {
		t.Fatalf("hello: got %+v", h)
	}
	if c.Room() != "room1" {
		t.Errorf("room: got %q, want room1", c.Room())
	}
	f.mu.Lock()
	hdr, q := f.joined[0], f.queries[0]
	f.mu.Unlock()
	if got := hdr.Get("Sec-WebSocket-Protocol"); got != Subprotocol {
		t.Errorf("subprotocol: got %q, want %q", got, Subprotocol)
	}
	if got := hdr.Get("Authorization"); got != "Bearer s3cret" {
		t.Errorf("authorization: got %q", got)
	}
	if q != "client=cid-1&name=Ann+Lee&patches=1" {
		t.Errorf("query: got %q, want client=cid-1&name=Ann+Lee&patches=1", q)
	}
	ev := <-c.Events()
	if _, ok := ev.(*Hello); !ok {
		t.Errorf("first event: got %T, want *Hello", ev)
	}
}

func TestDialErrors(t *testing.T) {
	f := newFakeRelay(t)
	f.token = "good"
	ctx := ctxT(t, 5*time.Second)

	_, err := Dial(ctx, Config{URL: f.url("r"), Token: "bad"})
	var he *HandshakeError
	if !errors.As(err, &he) || he.StatusCode != 401 || !errors.Is(err, ErrHandshake) {
		t.Errorf("bad token: got %v, want HandshakeError 401", err)
	}
	if _, err := Dial(ctx, Config{URL: "http://127.0.0.1:1/x"}); !errors.Is(err, ErrBadURL) {
		t.Errorf("bad url: got %v, want ErrBadURL", err)
	}
	f.srv.Close()
	if _, err := Dial(ctx, Config{URL: f.url("r"), Token: "good"}); err == nil {
		t.Error("server down: got nil error")
	}
}

func TestSendAckAndReject(t *testing.T) {
	f := newFakeRelay(t)
	c := dial(t, Config{URL: f.url("r")})
	ctx := ctxT(t, 5*time.Second)

	ack, err := c.Send(ctx, fakePNG(1))
	if err != nil || ack.Seq != 1 || ack.Bytes != len(fakePNG(1)) {
		t.Fatalf("good frame: got %+v, %v; want ack seq 1", ack, err)
	}
	_, err = c.Send(ctx, []byte("garbage"))
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Code != "invalid_image" || rej.Seq != 2 || !errors.Is(err, ErrRejected) {
		t.Fatalf("bad frame: got %v, want RejectError invalid_image seq 2", err)
	}
	if ack, err = c.Send(ctx, fakePNG(3)); err != nil || ack.Seq != 3 {
		t.Fatalf("after a reject: got %+v, %v; want ack seq 3", ack, err)
	}
	_, err = c.Send(ctx, make([]byte, f.maxBytes+1))
	if !errors.As(err, &rej) || !rej.Local || rej.Code != "too_large" {
		t.Fatalf("oversized: got %v, want a local too_large RejectError", err)
	}
	st := c.Stats()
	if st.Sent != 3 || st.Acked != 2 || st.Rejected != 1 {
		t.Errorf("stats: got %+v, want sent 3 acked 2 rejected 1", st)
	}
}

func TestSendAsyncWindow(t *testing.T) {
	f := newFakeRelay(t)
	c := dial(t, Config{URL: f.url("r"), Window: 4})
	ctx := ctxT(t, 10*time.Second)
	var ps []*Pending
	for i := 1; i <= 40; i++ {
		p, err := c.SendAsync(ctx, fakePNG(i))
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		ps = append(ps, p)
	}
	for i, p := range ps {
		ack, err := p.Result()
		if err != nil || ack.Seq != int64(i+1) || p.Seq != int64(i+1) {
			t.Fatalf("frame %d: got ack %+v pending seq %d err %v", i+1, ack, p.Seq, err)
		}
	}
}

func TestWindowBlocksWhenFull(t *testing.T) {
	f := newFakeRelay(t)
	f.silent.Store(true)
	c := dial(t, Config{URL: f.url("r"), Window: 2})
	ctx := ctxT(t, 5*time.Second)
	for i := 0; i < 2; i++ {
		if _, err := c.SendAsync(ctx, fakePNG(i)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.SendAsync(short, fakePNG(3)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third frame with window 2: got %v, want DeadlineExceeded", err)
	}
}

func TestSendTimeoutFreesWindow(t *testing.T) {
	f := newFakeRelay(t)
	f.silent.Store(true)
	c := dial(t, Config{URL: f.url("r"), Window: 1})
	var given []*Pending
	for i := 1; i <= 3; i++ {
		short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		p, err := c.SendAsync(short, fakePNG(i))
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Wait(short)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("send %d: got %v, want DeadlineExceeded", i, err)
		}
		given = append(given, p)
	}
	for i, p := range given {
		if _, err := p.Result(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Result of given-up frame %d: got %v, want DeadlineExceeded", i+1, err)
		}
	}
	c.mu.Lock()
	cn := c.cur
	c.mu.Unlock()
	cn.mu.Lock()
	left := len(cn.pending)
	cn.mu.Unlock()
	if left != 0 {
		t.Fatalf("got %d given-up frames still pending, want 0", left)
	}
	f.silent.Store(false)
	ack, err := c.Send(ctxT(t, 5*time.Second), fakePNG(4))
	if err != nil || ack.Seq != 4 {
		t.Fatalf("after timeouts: got %+v %v, want ack seq 4", ack, err)
	}
}

func TestFramesPairedAndCopied(t *testing.T) {
	f := newFakeRelay(t)
	pub := dial(t, Config{URL: f.url("r"), ClientID: "pub", Name: "P"})
	sub := dial(t, Config{URL: f.url("r"), ClientID: "sub", FrameBuffer: 64})
	ctx := ctxT(t, 10*time.Second)
	const n = 50
	for i := 1; i <= n; i++ {
		if _, err := pub.Send(ctx, fakePNG(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		select {
		case fr := <-sub.Frames():
			if fr.Info.Client != "pub" || fr.Info.Name != "P" || fr.Info.Seq != int64(i) {
				t.Fatalf("frame %d: got info %+v", i, fr.Info)
			}
			if !bytes.Equal(fr.Data, fakePNG(i)) {
				t.Fatalf("frame %d: got %q, want %q", i, fr.Data, fakePNG(i))
			}
		case <-ctx.Done():
			t.Fatalf("frame %d never came", i)
		}
	}
	if d := sub.Stats().DroppedFrames; d != 0 {
		t.Errorf("dropped: got %d, want 0", d)
	}
}

func TestSlowReaderDropsOldestFrames(t *testing.T) {
	f := newFakeRelay(t)
	pub := dial(t, Config{URL: f.url("r"), ClientID: "pub"})
	sub := dial(t, Config{URL: f.url("r"), ClientID: "sub", FrameBuffer: 3})
	ctx := ctxT(t, 10*time.Second)
	const n = 20
	for i := 1; i <= n; i++ {
		if _, err := pub.Send(ctx, fakePNG(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The fake relay writes the frame before the ack's sender gets its next turn,
	// but the subscriber's read loop may still be behind: wait until all arrived.
	waitFor(t, "all frames read or dropped", func() bool {
		st := sub.Stats()
		return st.DroppedFrames >= n-4
	})
	var got []int64
	for len(got) < n {
		select {
		case fr := <-sub.Frames():
			got = append(got, fr.Info.Seq)
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	dropped := sub.Stats().DroppedFrames
	if int(dropped)+len(got) != n {
		t.Fatalf("got %d frames + %d dropped, want %d in all", len(got), dropped, n)
	}
	if len(got) > 3+1 {
		t.Fatalf("got %d frames held, want at most FrameBuffer+1 = 4", len(got))
	}
	if got[len(got)-1] != n || !slices.IsSorted(got) {
		t.Fatalf("got seqs %v, want ascending and ending with the newest %d", got, n)
	}
}

func TestEventsChatPresenceAndErrors(t *testing.T) {
	f := newFakeRelay(t)
	a := dial(t, Config{URL: f.url("r"), ClientID: "a"})
	<-a.Events() // hello
	b := dial(t, Config{URL: f.url("r"), ClientID: "b", Name: "Bee"})
	ctx := ctxT(t, 5*time.Second)
	if err := b.Chat(ctx, "hi there"); err != nil {
		t.Fatal(err)
	}
	if err := a.SendJSON(ctx, map[string]string{"type": "nonsense"}); err != nil {
		t.Fatal(err)
	}
	var types []string
	for len(types) < 3 {
		select {
		case ev := <-a.Events():
			types = append(types, ev.EventType())
			switch ev := ev.(type) {
			case *Presence:
				if ev.Client != "b" || ev.Name != "Bee" || ev.Event != "join" {
					t.Errorf("presence: got %+v", ev)
				}
			case *Chat:
				if ev.Text != "hi there" || ev.Client != "b" {
					t.Errorf("chat: got %+v", ev)
				}
			case *ErrorEvent:
				if ev.Code != "bad_request" || ev.Seq != 0 {
					t.Errorf("error: got %+v", ev)
				}
			}
		case <-ctx.Done():
			t.Fatalf("got events %v, want presence, chat, error", types)
		}
	}
	slices.Sort(types)
	if !slices.Equal(types, []string{"chat", "error", "presence"}) {
		t.Fatalf("got %v, want chat, error, presence", types)
	}
}

func TestConnectionLostFailsPending(t *testing.T) {
	f := newFakeRelay(t)
	f.silent.Store(true)
	c := dial(t, Config{URL: f.url("r")})
	ctx := ctxT(t, 5*time.Second)
	var ps []*Pending
	for i := 0; i < 3; i++ {
		p, err := c.SendAsync(ctx, fakePNG(i))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	waitFor(t, "server to read 3 frames", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, m := range f.members {
			return m.seq.Load() == 3
		}
		return false
	})
	f.dropAll()
	for i, p := range ps {
		if _, err := p.Wait(ctx); !errors.Is(err, ErrConnectionLost) {
			t.Errorf("frame %d: got %v, want ErrConnectionLost", i+1, err)
		}
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("client did not stop")
	}
	if err := c.Err(); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Err: got %v, want ErrConnectionLost", err)
	}
	if _, err := c.Send(ctx, fakePNG(9)); err == nil {
		t.Error("send after the end: got nil error")
	}
	if st := c.Stats(); st.Lost != 3 {
		t.Errorf("lost: got %d, want 3", st.Lost)
	}
	// Events and Frames close once the client has stopped.
	for range c.Events() {
	}
	for range c.Frames() {
	}
}

func TestReconnectKeepsClientID(t *testing.T) {
	f := newFakeRelay(t)
	c := dial(t, Config{URL: f.url("r"), Reconnect: true, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	first := c.ClientID()
	if !strings.HasPrefix(first, "made-") {
		t.Fatalf("client id: got %q, want one made up by the server", first)
	}
	ctx := ctxT(t, 10*time.Second)
	if _, err := c.Send(ctx, fakePNG(1)); err != nil {
		t.Fatal(err)
	}
	f.dropAll()
	waitFor(t, "reconnect", func() bool { return c.Stats().Connects == 2 })
	ack, err := c.Send(ctx, fakePNG(2))
	if err != nil || ack.Seq != 1 {
		t.Fatalf("after reconnect: got %+v %v, want ack seq 1 (seq restarts per connection)", ack, err)
	}
	f.mu.Lock()
	q := f.queries[len(f.queries)-1]
	f.mu.Unlock()
	if q != "client="+first+"&patches=1" {
		t.Errorf("redial query: got %q, want client=%s&patches=1", q, first)
	}
	if c.ClientID() != first {
		t.Errorf("client id: got %q, want %q", c.ClientID(), first)
	}
}

func TestReconnectGivesUp(t *testing.T) {
	t.Run("refused for good", func(t *testing.T) {
		f := newFakeRelay(t)
		c := dial(t, Config{URL: f.url("r"), Reconnect: true, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
		f.status.Store(403)
		f.dropAll()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("client kept redialing after 403")
		}
		var he *HandshakeError
		if err := c.Err(); !errors.Is(err, ErrGaveUp) || !errors.As(err, &he) || he.StatusCode != 403 {
			t.Fatalf("got %v, want ErrGaveUp with HTTP 403", err)
		}
	})
	t.Run("max reconnects", func(t *testing.T) {
		f := newFakeRelay(t)
		c := dial(t, Config{URL: f.url("r"), Reconnect: true, MaxReconnects: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
		f.status.Store(503)
		f.dropAll()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("client kept redialing")
		}
		if err := c.Err(); !errors.Is(err, ErrGaveUp) || !strings.Contains(err.Error(), "3 attempts") {
			t.Fatalf("got %v, want ErrGaveUp after 3 attempts", err)
		}
	})
}

func TestSendWaitsForRedial(t *testing.T) {
	f := newFakeRelay(t)
	c := dial(t, Config{URL: f.url("r"), Reconnect: true, MinBackoff: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	f.dropAll()
	waitFor(t, "disconnect", func() bool { return !c.Connected() })
	ack, err := c.Send(ctxT(t, 5*time.Second), fakePNG(1))
	if err != nil || ack.Seq != 1 {
		t.Fatalf("got %+v %v, want ack seq 1 on the new connection", ack, err)
	}
}

func TestReadTimeoutDetectsDeadServer(t *testing.T) {
	f := newFakeRelay(t)
	f.mute.Store(true)
	c := dial(t, Config{URL: f.url("r"), PingInterval: 30 * time.Millisecond, ReadTimeout: 150 * time.Millisecond})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a server that answers no ping was not detected")
	}
	if err := c.Err(); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("got %v, want ErrConnectionLost", err)
	}
}

func TestPongsKeepConnectionAlive(t *testing.T) {
	f := newFakeRelay(t)
	// Three read timeouts pass; only the pongs keep the connection up.
	c := dial(t, Config{URL: f.url("r"), PingInterval: 50 * time.Millisecond, ReadTimeout: 500 * time.Millisecond})
	time.Sleep(1500 * time.Millisecond)
	if !c.Connected() {
		t.Fatalf("connection ended: %v", c.Err())
	}
}

func TestCloseSendsNormalClosure(t *testing.T) {
	f := newFakeRelay(t)
	f.silent.Store(true)
	c := dial(t, Config{URL: f.url("r")})
	p, err := c.SendAsync(ctxT(t, 5*time.Second), fakePNG(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Close() // twice is fine
	if _, err := p.Result(); !errors.Is(err, ErrConnectionLost) || !errors.Is(err, ErrClosed) {
		t.Errorf("frame in flight: got %v, want ErrConnectionLost and ErrClosed", err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err: got %v, want ErrClosed", c.Err())
	}
	waitFor(t, "server to see the close", func() bool { return len(f.closeCodes()) == 1 })
	if got := f.closeCodes()[0]; got != 1000 {
		t.Fatalf("close code: got %d, want 1000", got)
	}
	if _, ok := <-c.Frames(); ok {
		t.Error("Frames still open after Close")
	}
}
