package client

// Integration tests against the real relay server.

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay"
)

type realRelay struct {
	srv  *relay.Server
	http *httptest.Server
}

func startRealRelay(t *testing.T, cfg relay.Config) *realRelay {
	t.Helper()
	srv, err := relay.New(cfg, testLogger(t).With("side", "relay"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws/", srv.Handler())
	hs := httptest.NewServer(mux)
	r := &realRelay{srv: srv, http: hs}
	t.Cleanup(func() { r.shutdown(t) })
	return r
}

func (r *realRelay) shutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Logf("shutdown: %v", err)
	}
	r.http.Close()
}

func (r *realRelay) url(room string) string { return r.http.URL + "/r/" + room }

// disconnects counts the relay's closed connections with this close code.
func (r *realRelay) disconnects(t *testing.T, code string) float64 {
	t.Helper()
	mfs, err := r.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "canvasrelay_disconnects_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "code" && l.GetValue() == code {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The relay is latest-wins per source for each subscriber: a burst may
// replace a frame not yet written. Every frame that arrives must be exactly
// the one sent with its seq, in order, and the newest must always arrive.
func TestRealRelayFramesRoundTrip(t *testing.T) {
	names := []string{"canvas-opaque-64x48.png", "canvas-transparent-64x48.png", "photo-64x48.jpg",
		"canvas-opaque-64x48.webp", "anim-2frames-64x48.gif", "canvas-1920x1080.png"}
	for _, tt := range []struct {
		name   string
		paced  bool // wait for each frame at the subscriber before the next
		window int
	}{
		{"paced", true, 1},
		{"burst", false, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startRealRelay(t, relay.Config{})
			pub := dial(t, Config{URL: r.url("rt"), ClientID: "pub", Name: "Publisher", Window: tt.window})
			sub := dial(t, Config{URL: r.url("rt"), ClientID: "sub", FrameBuffer: 64})
			ctx := ctxT(t, 10*time.Second)
			var ps []*Pending
			sent := map[int64][]byte{}
			acks := map[int64]Ack{}
			var got []Frame
			recv := func() {
				t.Helper()
				select {
				case f := <-sub.Frames():
					got = append(got, f)
				case <-ctx.Done():
					t.Fatalf("no frame at the subscriber after %d", len(got))
				}
			}
			for i, n := range names {
				img := testdata(t, n)
				p, err := pub.SendAsync(ctx, img)
				if err != nil {
					t.Fatalf("%s: %v", n, err)
				}
				ps = append(ps, p)
				sent[int64(i+1)] = img
				if tt.paced {
					if _, err := p.Wait(ctx); err != nil {
						t.Fatal(err)
					}
					recv()
				}
			}
			for i, p := range ps {
				ack, err := p.Wait(ctx)
				if err != nil {
					t.Fatalf("%s: %v", names[i], err)
				}
				info, err := imageproc.Inspect(sent[ack.Seq], imageproc.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				if ack.Seq != int64(i+1) || ack.Format != string(info.Format) || ack.Width != info.Width || ack.Height != info.Height || ack.Bytes != len(sent[ack.Seq]) {
					t.Errorf("%s: got ack %v, want seq %d %s %dx%d %d bytes", names[i], ack, i+1, info.Format, info.Width, info.Height, len(sent[ack.Seq]))
				}
				acks[ack.Seq] = ack
			}
			for !tt.paced && (len(got) == 0 || got[len(got)-1].Info.Seq != int64(len(names))) {
				recv()
			}
			if tt.paced && len(got) != len(names) {
				t.Fatalf("paced: got %d frames, want all %d", len(got), len(names))
			}
			for i, f := range got {
				ack := acks[f.Info.Seq]
				if i > 0 && f.Info.Seq <= got[i-1].Info.Seq {
					t.Errorf("frame %d: seq %d after %d, want increasing", i, f.Info.Seq, got[i-1].Info.Seq)
				}
				if f.Info.Client != "pub" || f.Info.Name != "Publisher" || f.Info.Format != ack.Format ||
					f.Info.Width != ack.Width || f.Info.Height != ack.Height || f.Info.Bytes != ack.Bytes || f.Info.TS == 0 {
					t.Errorf("got frame info %v, want it to match ack %v", f.Info, ack)
				}
				if !bytes.Equal(f.Data, sent[f.Info.Seq]) {
					t.Errorf("seq %d: got %d bytes, want the %d sent, byte for byte", f.Info.Seq, len(f.Data), len(sent[f.Info.Seq]))
				}
			}
			t.Logf("%d of %d frames arrived", len(got), len(names))
		})
	}
}

func TestRealRelayRejections(t *testing.T) {
	r := startRealRelay(t, relay.Config{})
	c := dial(t, Config{URL: r.url("bad")})
	ctx := ctxT(t, 10*time.Second)
	seq := int64(0)
	for _, name := range []string{"badmagic.png", "truncated-header.png", "bomb-100000x100000.png", "sample.bmp", "empty.bin", "random-1k.bin"} {
		t.Run(name, func(t *testing.T) {
			img := testdata(t, name)
			_, ierr := imageproc.Inspect(img, imageproc.Limits{}.WithDefaults())
			want := imageproc.Code(ierr)
			seq++
			_, err := c.Send(ctx, img)
			var rej *RejectError
			if !errors.As(err, &rej) || rej.Code != want || rej.Seq != seq || rej.Local {
				t.Fatalf("got %v, want a RejectError %s for seq %d", err, want, seq)
			}
		})
	}
	// The connection is still good.
	seq++
	if ack, err := c.Send(ctx, testdata(t, "canvas-opaque-64x48.png")); err != nil || ack.Seq != seq {
		t.Fatalf("after rejections: got %+v %v, want ack seq %d", ack, err, seq)
	}
}

func TestRealRelayLimitsFromHello(t *testing.T) {
	r := startRealRelay(t, relay.Config{MaxBytes: 2048, Formats: []imageproc.Format{imageproc.PNG}})
	c := dial(t, Config{URL: r.url("lim")})
	h := c.Hello()
	if h.MaxBytes != 2048 || len(h.Formats) != 1 || h.Formats[0] != "png" || h.Room != "lim" || h.Count != 1 || h.ID == "" {
		t.Fatalf("hello: got %+v", h)
	}
	img := testdata(t, "canvas-opaque-64x48.png")
	if len(img) <= 2048 {
		t.Fatalf("test image too small: %d bytes", len(img))
	}
	var rej *RejectError
	if _, err := c.Send(ctxT(t, 5*time.Second), img); !errors.As(err, &rej) || !rej.Local || rej.Code != "too_large" {
		t.Fatalf("got %v, want a local too_large", err)
	}
	if c.Stats().Sent != 0 || !c.Connected() {
		t.Fatalf("the oversized image was sent, or the connection ended")
	}
}

func TestRealRelayChatAndPresence(t *testing.T) {
	r := startRealRelay(t, relay.Config{})
	a := dial(t, Config{URL: r.url("talk"), ClientID: "a", Name: "Ann"})
	if _, ok := (<-a.Events()).(*Hello); !ok {
		t.Fatal("first event is not hello")
	}
	b := dial(t, Config{URL: r.url("talk"), ClientID: "b", Name: "Bob"})
	ctx := ctxT(t, 5*time.Second)
	if err := b.Chat(ctx, "hi Ann"); err != nil {
		t.Fatal(err)
	}
	_ = b.Close()
	want := []string{"presence join b 2", "chat b hi Ann", "presence leave b 1"}
	for _, w := range want {
		select {
		case ev := <-a.Events():
			var got string
			switch ev := ev.(type) {
			case *Presence:
				got = "presence " + ev.Event + " " + ev.Client + " " + string(rune('0'+ev.Count))
			case *Chat:
				got = "chat " + ev.Client + " " + ev.Text
			default:
				got = ev.EventType()
			}
			if got != w {
				t.Fatalf("got %q, want %q", got, w)
			}
		case <-ctx.Done():
			t.Fatalf("no event, want %q", w)
		}
	}
	waitFor(t, "close 1000 at the relay", func() bool { return r.disconnects(t, "1000") == 1 })
}

func TestRealRelayShutdownIs1001(t *testing.T) {
	r := startRealRelay(t, relay.Config{})
	c := dial(t, Config{URL: r.url("bye")})
	r.shutdown(t)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client did not see the shutdown")
	}
	if code := CloseCode(c.Err()); code != 1001 {
		t.Fatalf("got %v (close code %d), want 1001", c.Err(), code)
	}
}

func newBenchServer(srv *relay.Server) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle("/ws/", srv.Handler())
	return httptest.NewServer(mux)
}
