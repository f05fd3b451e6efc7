package relay

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestRefusalsOverHTTP: a real server answers refused upgrades with the
// status, body and headers the wire contract and the README give. The
// strings are written out here, not taken from the code, so that a change
// of wording fails.
func TestRefusalsOverHTTP(t *testing.T) {
	cfg := Config{AuthSecret: []byte(testSecret), MaxMembersPerRoom: 1, MaxConnsPerIP: 2}
	_, u := startServer(t, cfg)
	base := "http" + strings.TrimPrefix(u, "ws")
	tok := func(c Claims) string { return url.QueryEscape(mintWith(t, []byte(testSecret), c)) }
	art := tok(Claims{Room: "art", Publish: true, Subscribe: true})
	full := dial(t, u, "full", dialOpt{query: "token=" + tok(Claims{Room: "full", Publish: true, Subscribe: true})})
	full.expect(TypeHello)

	for _, tc := range []struct {
		name, method, target string
		header               http.Header
		status               int
		body                 string // the start of the body
		hdr, hdrValue        string
	}{
		{"bad room", "GET", "/ws/a%20b", nil, 400, "bad room name: use 1 to 64 characters from A-Z a-z 0-9 . _ -\n", "", ""},
		{"POST", "POST", "/ws/art", nil, 405, "use GET with a WebSocket upgrade\n", "Allow", "GET"},
		{"origin", "GET", "/ws/art", http.Header{"Origin": {"http://evil.example"}}, 403, "origin not allowed\n", "", ""},
		{"no token", "GET", "/ws/art", nil, 401, "token missing: pass a room token as ?token= or Authorization: Bearer\n", "Www-Authenticate", `Bearer realm="canvasrelay"`},
		{"garbage token", "GET", "/ws/art?token=abc", nil, 401, "token malformed", "Www-Authenticate", `Bearer realm="canvasrelay"`},
		{"token for another room", "GET", "/ws/music?token=" + art, nil, 403, "token is not for this room: it covers \"art\"\n", "", ""},
		{"bad client id", "GET", "/ws/art?client=a+b&token=" + art, nil, 400, "bad client id: use 1 to 64 characters from A-Z a-z 0-9 . _ -\n", "", ""},
		{"bad rendition", "GET", "/ws/art?max_width=0&token=" + art, nil, 400, "bad rendition: max_width must be a whole number from 1 to 16384\n", "", ""},
		{"room full", "GET", "/ws/full?token=" + tok(Claims{Room: "full", Publish: true}), nil, 503, "relay: room full\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tc.header {
				req.Header[k] = vs
			}
			hc := &http.Client{Timeout: 30 * time.Second}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.HasPrefix(string(body), tc.body) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			if tc.hdr != "" && resp.Header.Get(tc.hdr) != tc.hdrValue {
				t.Errorf("got %s %q, want %q", tc.hdr, resp.Header.Get(tc.hdr), tc.hdrValue)
			}
		})
	}

	// The address cap: the second connection from 127.0.0.1 is the
	// member of "full"; a third is refused with 429.
	second := dial(t, u, "art", dialOpt{query: "token=" + art})
	second.expect(TypeHello)
	_, resp, err := tryDial(t, u, "art", dialOpt{query: "token=" + art})
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection from one address: got %v (%v), want HTTP 429", resp, err)
	}
}
