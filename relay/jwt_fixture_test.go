package relay

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeFixtures reads testdata/jwt: tokens minted by stock Node.js libraries
// (jose, jsonwebtoken; see testdata/jwt/README.md), the HS256 secret, and
// the public keys as PEM and as JWKS.
func nodeFixtures(t *testing.T) (tokens map[string]string, secret []byte, pemKeys, jwksKeys []PublicKey) {
	t.Helper()
	dir := filepath.Join("..", "testdata", "jwt")
	b, err := os.ReadFile(filepath.Join(dir, "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tokens); err != nil {
		t.Fatal(err)
	}
	s, err := os.ReadFile(filepath.Join(dir, "hs256.secret"))
	if err != nil {
		t.Fatal(err)
	}
	if pemKeys, err = LoadPublicKeys(filepath.Join(dir, "public.pem")); err != nil {
		t.Fatal(err)
	}
	if jwksKeys, err = LoadPublicKeys(filepath.Join(dir, "jwks.json")); err != nil {
		t.Fatal(err)
	}
	return tokens, []byte(strings.TrimSpace(string(s))), pemKeys, jwksKeys
}

// TestJWTFromNodeOpensRoom: tokens minted by jose and jsonwebtoken in
// Node.js, with HS256, RS256, ES256 and EdDSA, open a room on a real relay
// whose keys come from PEM and from JWKS, with each claim honoured (room
// pattern, sub as the client id, name over ?name=, rights); the refused ones
// get their status.
func TestJWTFromNodeOpensRoom(t *testing.T) {
	tokens, secret, pemKeys, jwksKeys := nodeFixtures(t)
	img := readTestdata(t, "photo-64x48.jpg")
	tok := func(name string) string {
		t.Helper()
		s, ok := tokens[name]
		if !ok {
			t.Fatalf("no token %q in testdata/jwt/tokens.json", name)
		}
		return url.QueryEscape(s)
	}
	for keysName, keys := range map[string][]PublicKey{"PEM": pemKeys, "JWKS": jwksKeys} {
		t.Run(keysName, func(t *testing.T) {
			srv, u := startServer(t, Config{AuthSecret: secret, AuthPublicKeys: keys})
			players := []string{"hs256-jose", "rs256-jose", "es256-jose", "eddsa-jose", "hs256-jsonwebtoken", "rs256-jsonwebtoken", "es256-jsonwebtoken"}
			for _, name := range players {
				t.Run(name, func(t *testing.T) {
					room := "node-" + name
					viewer := dial(t, u, room, dialOpt{query: "token=" + tok("eddsa-viewer")})
					viewer.expect(TypeHello)
					p := dial(t, u, room, dialOpt{query: "name=Query&token=" + tok(name)})
					if h := p.expect(TypeHello); str(h.ev, "client") != name {
						t.Fatalf("hello: got %s, want client %q (the token's sub)", h.data, name)
					}
					if pr := viewer.expect(TypePresence); str(pr.ev, "client") != name || str(pr.ev, "name") != "Node "+name {
						t.Fatalf("presence: got %s, want client %q named %q", pr.data, name, "Node "+name)
					}
					p.sendBinary(img)
					p.expect(TypeAck)
					if f := viewer.expect(TypeFrame); str(f.ev, "client") != name {
						t.Fatalf("frame: got %s, want it from %q", f.data, name)
					}
					viewer.next(5 * time.Second) // the image
					viewer.sendBinary(img)
					if e := viewer.expect(TypeError); str(e.ev, "code") != CodeForbidden {
						t.Fatalf("subscribe-only viewer publishing: got %s, want forbidden", e.data)
					}
					if _, resp, err := tryDial(t, u, room, dialOpt{query: "client=mallory&token=" + tok(name)}); err == nil || resp == nil || resp.StatusCode != 403 {
						t.Fatalf("client other than sub: got %v, want HTTP 403", err)
					}
				})
			}

			// The admin token lists the node-* rooms only.
			other := mintWith(t, secret, Claims{Room: "other", Subscribe: true})
			dial(t, u, "other", dialOpt{query: "token=" + other}).expect(TypeHello)
			dial(t, u, "node-admin-check", dialOpt{query: "token=" + tok("eddsa-viewer")}).expect(TypeHello)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/api/rooms?token="+tok("es256-admin"), nil)
			srv.Handler().ServeHTTP(rec, req)
			var body struct{ Rooms []RoomStats }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
				t.Fatalf("/api/rooms: got %d %s", rec.Code, rec.Body)
			}
			seen := false
			for _, r := range body.Rooms {
				if !strings.HasPrefix(r.Room, "node-") {
					t.Fatalf("/api/rooms with the node-* admin: got %+v, want no room outside node-*", body.Rooms)
				}
				seen = seen || r.Room == "node-admin-check"
			}
			if !seen {
				t.Fatalf("/api/rooms with the node-* admin: got %+v, want node-admin-check in it", body.Rooms)
			}

			for _, tc := range []struct {
				name   string
				status int
				reason string
			}{
				{"expired", 401, "expired"},
				{"nbf-future", 401, "not_yet_valid"},
				{"no-exp", 401, "claims"},
				{"alg-none", 401, "algorithm"},
				{"hs256-with-public-pem", 401, "signature"},
				{"hs256-with-rsa-pem", 401, "signature"},
				{"rs256-stranger", 401, "signature"},
				{"wrong-room", 403, "room"},
			} {
				before := authFailures(t, srv, tc.reason)
				_, resp, err := tryDial(t, u, "node-refused", dialOpt{query: "token=" + tok(tc.name)})
				if err == nil || resp == nil || resp.StatusCode != tc.status {
					t.Errorf("%s: got %v, want HTTP %d", tc.name, err, tc.status)
				} else if after := authFailures(t, srv, tc.reason); after != before+1 {
					t.Errorf("%s: reason %q counted %d times, want once", tc.name, tc.reason, after-before)
				}
			}
		})
	}
}
