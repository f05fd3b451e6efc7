package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Text frames that are not commands (a JSON array, an unknown type) are
// rate-limited like chat and each bad_request counts as a violation: a
// flood of them ends in close 1008 after MaxViolations answers, and a
// member of the room sees none of it.
func TestBadRequestFloodCloses1008(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"array", `[1,2,3]`},
		{"unknown type", `{"type":"nope"}`},
		{"no type", `{"text":"hi"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, url := startServer(t, Config{})
			d := srv.cfg
			watcher := dial(t, url, "flood", dialOpt{query: "client=watcher"})
			watcher.expect(TypeHello)
			f := dial(t, url, "flood", dialOpt{query: "client=flooder"})
			f.expect(TypeHello)
			watcher.expect(TypePresence) // the flooder's join
			const maxSends = 2000
			sent := 0
			for ; sent < maxSends; sent++ {
				if err := f.ws.WriteString(tc.text); err != nil {
					break
				}
				select {
				case <-f.closed:
				default:
					continue
				}
				break
			}
			code := f.closeCode(10 * time.Second)
			bad, limited := 0, 0
			for len(f.msgs) > 0 {
				m := <-f.msgs
				switch {
				case m.typ == TypeError && str(m.ev, "code") == CodeBadRequest:
					bad++
				case m.typ == TypeError && str(m.ev, "code") == CodeRateLimited:
					limited++
				case m.typ == TypePresence:
				default:
					t.Errorf("flooder got %s, want only bad_request and rate_limited", describe(m))
				}
			}
			t.Logf("sent %d, got %d bad_request and %d rate_limited, then close %d", sent, bad, limited, code)
			if code != ClosePolicy {
				t.Fatalf("close code: got %d, want 1008 after %d sends", code, sent)
			}
			if bad+limited != d.MaxViolations || bad == 0 {
				t.Errorf("answers: got %d bad_request + %d rate_limited, want %d in all (MaxViolations), some of each", bad, limited, d.MaxViolations)
			}
			v := testutil.ToFloat64(srv.metrics.violations.WithLabelValues(CodeBadRequest)) + testutil.ToFloat64(srv.metrics.violations.WithLabelValues(CodeRateLimited))
			if v != float64(d.MaxViolations+1) {
				t.Errorf("canvasrelay_violations_total: got %v, want %d (the answers and the close)", v, d.MaxViolations+1)
			}
			if m := watcher.expect(TypePresence); str(m.ev, "event") != "leave" {
				t.Fatalf("watcher got %s, want only the flooder's leave", m.data)
			}
			watcher.expectNothing(100 * time.Millisecond)
		})
	}
}

// A text frame far longer than any command is refused with bad_request
// before it is parsed, and counts as a violation; chat at the limit passes.
func TestHugeTextFrameRefusedUnparsed(t *testing.T) {
	srv, url := startServer(t, Config{MaxViolations: 3})
	watcher := dial(t, url, "big", dialOpt{query: "client=watcher"})
	watcher.expect(TypeHello)
	c := dial(t, url, "big", dialOpt{query: "client=c"})
	c.expect(TypeHello)
	watcher.expect(TypePresence)

	chat := strings.Repeat("é", srv.cfg.MaxChatBytes/2) // at the limit, JSON-escaped as \u00e9 by a careful client
	c.sendText(`{"type":"chat","text":"` + strings.ReplaceAll(chat, "é", `\u00e9`) + `"}`)
	if m := watcher.expect(TypeChat); str(m.ev, "text") != chat {
		t.Fatalf("watcher got chat of %d bytes, want %d", len(str(m.ev, "text")), len(chat))
	}
	huge := `{"type":"chat","text":"` + strings.Repeat("x", 4<<20) + `"}`
	for i := 0; i < 3; i++ {
		c.sendText(huge)
		m := c.expect(TypeError)
		if str(m.ev, "code") != CodeBadRequest || !strings.Contains(str(m.ev, "message"), "text frame is") {
			t.Fatalf("got %s, want bad_request about the text frame's size", m.data)
		}
	}
	c.sendText(huge) // the fourth violation
	if code := c.closeCode(10 * time.Second); code != ClosePolicy {
		t.Fatalf("close code: got %d, want 1008", code)
	}
	watcher.expect(TypePresence)
	watcher.expectNothing(100 * time.Millisecond)
}

// BenchmarkHugeTextFrame: the relay's answer to an 8 MiB JSON text frame,
// end to end on a real server (before the size bound, the frame was
// validated and parsed as JSON: about 80 ms of CPU each).
func BenchmarkHugeTextFrame(b *testing.B) {
	_, url := startServer(b, Config{ChatRate: -1, MaxViolations: 1 << 30})
	c := dial(b, url, "bench", dialOpt{})
	c.expect(TypeHello)
	huge := `[` + strings.Repeat(`"xxxxxxxxxxxx",`, (8<<20-64)/15) + `0]`
	b.SetBytes(int64(len(huge)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.sendText(huge)
		if m := c.expect(TypeError); str(m.ev, "code") != CodeBadRequest {
			b.Fatalf("got %s, want bad_request", m.data)
		}
	}
}

// A subscribe-only connection that keeps sending (text the relay would
// parse, or images it may not publish) spends the same buckets, and each
// forbidden answer is a violation: it is closed with 1008, and nothing of
// it reaches the room.
func TestViewerFloodCloses1008(t *testing.T) {
	secret := []byte("test-secret-0123456789")
	srv, u := startServer(t, Config{AuthSecret: secret})
	tok, err := MintToken(secret, Claims{Room: "v-*", Publish: true, Subscribe: true, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	view, err := MintToken(secret, Claims{Room: "v-*", Subscribe: true, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	img := readTestdata(t, "photo-64x48.jpg")
	for _, kind := range []string{"text", "binary"} {
		t.Run(kind, func(t *testing.T) {
			w := dial(t, u, "v-"+kind, dialOpt{query: "client=w-" + kind + "&token=" + tok})
			w.expect(TypeHello)
			f := dial(t, u, "v-"+kind, dialOpt{query: "client=f-" + kind + "&token=" + view})
			f.expect(TypeHello)
			w.expect(TypePresence)
			sent := 0
			for ; sent < 1000; sent++ {
				var err error
				if kind == "text" {
					err = f.ws.WriteString(`["not","a","command"]`)
				} else {
					err = f.ws.WriteMessage(gws.OpcodeBinary, img)
				}
				if err != nil {
					break
				}
				select {
				case <-f.closed:
				default:
					continue
				}
				break
			}
			if code := f.closeCode(10 * time.Second); code != ClosePolicy {
				t.Fatalf("close code: got %d after %d sends, want 1008", code, sent)
			}
			answers := 0
			for len(f.msgs) > 0 {
				m := <-f.msgs
				if m.typ != TypeError {
					t.Errorf("viewer got %s, want only errors", describe(m))
				}
				answers++
			}
			if answers != srv.cfg.MaxViolations {
				t.Errorf("answers: got %d, want %d (MaxViolations)", answers, srv.cfg.MaxViolations)
			}
			if m := w.expect(TypePresence); str(m.ev, "event") != "leave" {
				t.Fatalf("room got %s, want only the viewer's leave", m.data)
			}
		})
	}
}
