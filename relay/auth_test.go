package relay

import (
	"github.com/lxzan/gws"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	secret := []byte("test-secret-0123456789")
	_, u := startServer(t, Config{AuthSecret: secret})
	mint := func(c Claims) string {
		t.Helper()
		if c.Expires == 0 {
			c.Expires = time.Now().Add(time.Hour).Unix()
		}
		tok, err := MintToken(secret, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	both := mint(Claims{Room: "art", Publish: true, Subscribe: true})
	tampered := []byte(both)
	tampered[3] ^= 1 // flip a bit of the claims
	forged, _ := MintToken([]byte("another secret"), Claims{Room: "art", Publish: true, Subscribe: true, Expires: time.Now().Add(time.Hour).Unix()})

	for _, tc := range []struct {
		name, room, query string
		header            http.Header
		status            int
	}{
		{"missing", "art", "", nil, 401},
		{"malformed", "art", "token=abc", nil, 401},
		{"tampered", "art", "token=" + string(tampered), nil, 401},
		{"other secret", "art", "token=" + forged, nil, 401},
		{"expired", "art", "token=" + mint(Claims{Room: "art", Publish: true, Subscribe: true, Expires: time.Now().Add(-time.Second).Unix()}), nil, 401},
		{"wrong room", "music", "token=" + both, nil, 403},
		{"pattern miss", "music", "token=" + mint(Claims{Room: "art-*", Subscribe: true}), nil, 403},
		{"no rights", "art", "token=" + mint(Claims{Room: "art"}), nil, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := tryDial(t, u, tc.room, dialOpt{query: tc.query, header: tc.header})
			if err == nil || resp == nil || resp.StatusCode != tc.status {
				got := 0
				if resp != nil {
					got = resp.StatusCode
				}
				t.Fatalf("got HTTP %d (%v), want %d", got, err, tc.status)
			}
		})
	}

	// Good tokens: query parameter and bearer header; a room pattern.
	pub := dial(t, u, "art", dialOpt{query: "client=pub&token=" + both})
	pub.expect(TypeHello)
	h := http.Header{}
	h.Set("Authorization", "Bearer "+mint(Claims{Room: "art-*", Subscribe: true}))
	dial(t, u, "art-2", dialOpt{header: h}).expect(TypeHello)

	// A viewer token subscribes but may not publish or chat.
	viewer := dial(t, u, "art", dialOpt{query: "client=viewer&token=" + mint(Claims{Room: "art", Subscribe: true})})
	viewer.expect(TypeHello)
	pub.expect(TypePresence)
	viewer.sendBinary(readTestdata(t, "photo-64x48.jpg"))
	if e := viewer.expect(TypeError); str(e.ev, "code") != CodeForbidden || num(e.ev, "seq") != 1 {
		t.Fatalf("viewer publishing: got %s, want forbidden with seq 1", e.data)
	}
	viewer.sendText("hello")
	if e := viewer.expect(TypeError); str(e.ev, "code") != CodeForbidden {
		t.Fatalf("viewer chatting: got %s, want forbidden", e.data)
	}
	pub.expectNothing(150 * time.Millisecond) // nothing was fanned out
	pub.sendBinary(readTestdata(t, "photo-64x48.jpg"))
	pub.expect(TypeAck)
	viewer.expect(TypeFrame)

	// A publish-only token (a CLI upload) gets acks but no room traffic.
	up := dial(t, u, "art", dialOpt{query: "client=up&token=" + mint(Claims{Room: "art", Publish: true})})
	up.expect(TypeHello)
	pub.sendText("chat for subscribers")
	up.expectNothing(150 * time.Millisecond)
}

func TestTokenExpiresDuringSession(t *testing.T) {
	secret := []byte("session-secret-0123456789")
	_, u := startServer(t, Config{AuthSecret: secret, PingInterval: 50 * time.Millisecond, ReadTimeout: 10 * time.Second})
	tok, _ := MintToken(secret, Claims{Room: "r", Subscribe: true, Expires: time.Now().Add(1500 * time.Millisecond).Unix()})
	c := dial(t, u, "r", dialOpt{query: "token=" + tok})
	c.expect(TypeHello)
	if code := c.closeCode(5 * time.Second); code != ClosePolicy {
		t.Fatalf("close at expiry: got %d, want 1008", code)
	}
}

func TestMintTokenRejectsBadInput(t *testing.T) {
	if _, err := MintToken(nil, Claims{Room: "a"}); err == nil {
		t.Error("empty secret: got no error")
	}
	if _, err := MintToken([]byte("s"), Claims{Room: "bad room"}); err == nil {
		t.Error("bad room: got no error")
	}
	c := Claims{Room: "team-*"}
	for room, want := range map[string]bool{"team-a": true, "team-": true, "team": false, "other": false} {
		if got := c.AllowsRoom(room); got != want {
			t.Errorf("AllowsRoom(%q): got %v, want %v", room, got, want)
		}
	}
}

func TestRateLimitThenPolicyClose(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: 5, FrameBurst: 5, MaxViolations: 10})
	a := dial(t, u, "rl", dialOpt{})
	a.expect(TypeHello)
	img := readTestdata(t, "photo-64x48.jpg")
	acks, limited := 0, 0
	for i := 0; i < 40; i++ {
		if a.ws.WriteMessage(gws.OpcodeBinary, img) != nil {
			break // closed by the relay: expected once it has had enough
		}
	}
	select {
	case <-a.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("not closed after 40 frames")
	}
	for len(a.msgs) > 0 { // everything read before the close
		m := <-a.msgs
		switch m.typ {
		case TypeAck:
			acks++
		case TypeError:
			if str(m.ev, "code") != CodeRateLimited {
				t.Fatalf("got %s, want rate_limited", m.data)
			}
			limited++
		}
	}
	if code := a.closeCode(time.Second); code != ClosePolicy {
		t.Fatalf("close code: got %d, want 1008", code)
	}
	if acks < 5 || acks > 7 || limited != 10 {
		t.Fatalf("got %d acks and %d rate_limited, want about 5 acks (the burst) and 10 rate_limited before the close", acks, limited)
	}
	waitFor(t, 2*time.Second, func() bool {
		return strings.Contains(scrape(t, srv), `canvasrelay_disconnects_total{code="1008",reason="policy"} 1`)
	}, "the policy close to be counted")
}

func TestConnectionCaps(t *testing.T) {
	_, u := startServer(t, Config{MaxConnsPerIP: 3, MaxConns: 5})
	for i := 0; i < 3; i++ {
		dial(t, u, "caps", dialOpt{}).expect(TypeHello)
	}
	if _, resp, err := tryDial(t, u, "caps", dialOpt{}); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth from one address: got %v, want HTTP 429", err)
	}

	// Behind a trusted proxy, X-Forwarded-For names the client.
	_, u2 := startServer(t, Config{MaxConnsPerIP: 1, MaxConns: 2, TrustProxy: true})
	for i, ip := range []string{"203.0.113.1", "203.0.113.2"} {
		h := http.Header{}
		h.Set("X-Forwarded-For", "10.0.0.1, "+ip)
		dial(t, u2, "caps", dialOpt{header: h}).expect(TypeHello)
		_ = i
	}
	h := http.Header{}
	h.Set("X-Forwarded-For", "203.0.113.3")
	if _, resp, err := tryDial(t, u2, "caps", dialOpt{header: h}); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("over the total cap: got %v, want HTTP 503", err)
	}
}
