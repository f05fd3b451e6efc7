package relay

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lxzan/gws"
)

const testSecret = "test-secret-0123456789abcdef"

// hour is an expiry one hour from now.
func hour() int64 { return time.Now().Add(time.Hour).Unix() }

func mintWith(t testing.TB, key any, c Claims) string {
	t.Helper()
	if c.Expires == 0 {
		c.Expires = hour()
	}
	tok, err := MintToken(key, c)
	if err != nil {
		t.Fatalf("MintToken: %v", err)
	}
	return tok
}

// signRaw signs any claims (even ones MintToken refuses) with method and key.
func signRaw(t testing.TB, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return tok
}

// startAuthServer runs a relay that takes HS256 with testSecret and the
// public keys of k (PEM).
func startAuthServer(t *testing.T, k testKeys) (*Server, string) {
	return startServer(t, Config{AuthSecret: []byte(testSecret), AuthPublicKeys: mustParseKeys(t, k.pemOfAll(t))})
}

// TestJWTEachAlgorithmOpensRoom: a token of each algorithm opens its room,
// and each claim is honoured: room, rights (publish-only, subscribe-only),
// sub (the client id, also when ?client= is absent or equal), name (over
// ?name=).
func TestJWTEachAlgorithmOpensRoom(t *testing.T) {
	k := getTestKeys(t)
	_, u := startAuthServer(t, k)
	img := readTestdata(t, "photo-64x48.jpg")
	for alg, key := range map[string]any{"HS256": []byte(testSecret), "RS256": k.rsa, "ES256": k.ec, "EdDSA": k.ed} {
		t.Run(alg, func(t *testing.T) {
			room := "room-" + strings.ToLower(alg)
			viewer := dial(t, u, room, dialOpt{query: "client=viewer&token=" + mintWith(t, key, Claims{Room: "room-*", Subscribe: true, Subject: "viewer"})})
			if h := viewer.expect(TypeHello); str(h.ev, "client") != "viewer" || str(h.ev, "room") != room {
				t.Fatalf("viewer hello: got %s, want client viewer in %s", h.data, room)
			}
			drawerTok := mintWith(t, key, Claims{Room: room, Publish: true, Subject: "drawer-" + alg, Name: "Drawer " + alg})
			drawer := dial(t, u, room, dialOpt{query: "name=Query+Name&token=" + drawerTok})
			if h := drawer.expect(TypeHello); str(h.ev, "client") != "drawer-"+alg {
				t.Fatalf("drawer hello: got %s, want the token's sub drawer-%s as client", h.data, alg)
			}
			if p := viewer.expect(TypePresence); str(p.ev, "client") != "drawer-"+alg || str(p.ev, "name") != "Drawer "+alg {
				t.Fatalf("presence: got %s, want client drawer-%s named %q (the token's name, not the query's)", p.data, alg, "Drawer "+alg)
			}
			drawer.sendBinary(img)
			drawer.expect(TypeAck)
			if f := viewer.expect(TypeFrame); str(f.ev, "client") != "drawer-"+alg || str(f.ev, "name") != "Drawer "+alg {
				t.Fatalf("frame: got %s, want it from drawer-%s", f.data, alg)
			}
			if m := viewer.next(5 * time.Second); m.op != gws.OpcodeBinary || len(m.data) != len(img) {
				t.Fatalf("got %s, want the image", describe(m))
			}
			viewer.sendBinary(img) // subscribe-only may not publish
			if e := viewer.expect(TypeError); str(e.ev, "code") != CodeForbidden || num(e.ev, "seq") != 1 {
				t.Fatalf("viewer publishing: got %s, want forbidden with seq 1", e.data)
			}
			drawer.expectNothing(150 * time.Millisecond) // publish-only gets no room traffic

			// ?client= equal to sub is fine too.
			again := dial(t, u, room, dialOpt{query: "client=drawer-" + alg + "&token=" + url.QueryEscape(drawerTok)})
			if h := again.expect(TypeHello); str(h.ev, "client") != "drawer-"+alg {
				t.Fatalf("client=sub: got %s, want client drawer-%s", h.data, alg)
			}
		})
	}
}

// TestJWTRefused: each bad token is refused before the upgrade with its
// status and its metrics reason.
func TestJWTRefused(t *testing.T) {
	k := getTestKeys(t)
	srv, u := startAuthServer(t, k)
	secret := []byte(testSecret)
	now := time.Now()
	good := jwt.MapClaims{"room": "art", "publish": true, "subscribe": true, "exp": now.Add(time.Hour).Unix()}
	with := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// A valid RS256 token whose claims are swapped for other, also signed, claims.
	rs := mintWith(t, k.rsa, Claims{Room: "art", Subscribe: true})
	other := mintWith(t, k.rsa, Claims{Room: "*", Publish: true, Subscribe: true, Admin: true})
	parts, otherParts := strings.Split(rs, "."), strings.Split(other, ".")
	spliced := parts[0] + "." + otherParts[1] + "." + parts[2]

	for _, tc := range []struct {
		name, room, query string
		token             string
		status            int
		reason            string
	}{
		{"missing", "art", "", "", 401, "missing"},
		{"garbage", "art", "", "abc", 401, "malformed"},
		{"too long", "art", "", strings.Repeat("a", 5000), 401, "malformed"},
		{"alg none", "art", "", none, 401, "algorithm"},
		// The alg-confusion attack: HS256 "signed" with each public key's PEM.
		{"HS256 with the RSA public key PEM", "art", "", signRaw(t, jwt.SigningMethodHS256, publicPEM(t, k.rsa), good), 401, "signature"},
		{"HS256 with the EC public key PEM", "art", "", signRaw(t, jwt.SigningMethodHS256, publicPEM(t, k.ec), good), 401, "signature"},
		{"HS256 with the Ed25519 public key PEM", "art", "", signRaw(t, jwt.SigningMethodHS256, publicPEM(t, k.ed), good), 401, "signature"},
		{"HS256 with the key file", "art", "", signRaw(t, jwt.SigningMethodHS256, k.pemOfAll(t), good), 401, "signature"},
		{"HS384 with the secret", "art", "", signRaw(t, jwt.SigningMethodHS384, secret, good), 401, "algorithm"},
		{"RS512 with the RSA key", "art", "", signRaw(t, jwt.SigningMethodRS512, k.rsa, good), 401, "algorithm"},
		{"PS256 with the RSA key", "art", "", signRaw(t, jwt.SigningMethodPS256, k.rsa, good), 401, "algorithm"},
		{"HS256 other secret", "art", "", signRaw(t, jwt.SigningMethodHS256, []byte("another secret 0123456789"), good), 401, "signature"},
		{"RS256 unknown key", "art", "", signRaw(t, jwt.SigningMethodRS256, k.other, good), 401, "signature"},
		{"RS256 claims swapped", "art", "", spliced, 401, "signature"},
		{"expired", "art", "", signRaw(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})), 401, "expired"},
		{"expired beyond the leeway", "art", "", signRaw(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"exp": now.Add(-TokenLeeway - 5*time.Second).Unix()})), 401, "expired"},
		{"nbf in the future", "art", "", signRaw(t, jwt.SigningMethodES256, k.ec, with(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})), 401, "not_yet_valid"},
		{"iat in the future", "art", "", signRaw(t, jwt.SigningMethodEdDSA, k.ed, with(jwt.MapClaims{"iat": now.Add(time.Hour).Unix()})), 401, "not_yet_valid"},
		{"missing exp", "art", "", signRaw(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"exp": nil})), 401, "claims"},
		{"exp not a number", "art", "", signRaw(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"exp": "tomorrow"})), 401, "malformed"},
		{"missing room", "art", "", signRaw(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"room": nil})), 401, "claims"},
		{"bad sub", "art", "", signRaw(t, jwt.SigningMethodHS256, secret, with(jwt.MapClaims{"sub": "bad id!"})), 401, "claims"},
		{"wrong room", "music", "", mintWith(t, secret, Claims{Room: "art", Publish: true}), 403, "room"},
		{"pattern miss", "music", "", mintWith(t, k.ed, Claims{Room: "art-*", Subscribe: true}), 403, "room"},
		{"no rights", "art", "", mintWith(t, secret, Claims{Room: "art", Admin: true}), 403, "rights"},
		{"wrong sub", "art", "client=mallory", mintWith(t, k.rsa, Claims{Room: "art", Publish: true, Subscribe: true, Subject: "alice"}), 403, "subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := authFailures(t, srv, tc.reason)
			q := tc.query
			if tc.token != "" {
				if q != "" {
					q += "&"
				}
				q += "token=" + url.QueryEscape(tc.token)
			}
			_, resp, err := tryDial(t, u, tc.room, dialOpt{query: q})
			got := 0
			if resp != nil {
				got = resp.StatusCode
			}
			if err == nil || got != tc.status {
				t.Fatalf("got HTTP %d (%v), want %d", got, err, tc.status)
			}
			if after := authFailures(t, srv, tc.reason); after != before+1 {
				t.Fatalf("canvasrelay_auth_failures_total{reason=%q}: got %d, want %d", tc.reason, after, before+1)
			}
		})
	}
}

// TestJWTAlgorithmPinnedWithoutSecret: with public keys only, an HS256 token
// signed with the public key's PEM is refused for its algorithm: there is no
// HMAC key at all to check it with.
func TestJWTAlgorithmPinnedWithoutSecret(t *testing.T) {
	k := getTestKeys(t)
	srv, u := startServer(t, Config{AuthPublicKeys: mustParseKeys(t, publicPEM(t, k.rsa))})
	claims := jwt.MapClaims{"room": "art", "publish": true, "subscribe": true, "exp": hour()}
	for _, key := range [][]byte{publicPEM(t, k.rsa), []byte(strings.TrimSpace(string(publicPEM(t, k.rsa))))} {
		tok := signRaw(t, jwt.SigningMethodHS256, key, claims)
		if _, resp, err := tryDial(t, u, "art", dialOpt{query: "token=" + tok}); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("HS256 with the public key: got %v, want HTTP 401", err)
		}
	}
	if n := authFailures(t, srv, "algorithm"); n != 2 {
		t.Fatalf("algorithm refusals: got %d, want 2", n)
	}
	dial(t, u, "art", dialOpt{query: "token=" + signRaw(t, jwt.SigningMethodRS256, k.rsa, claims)}).expect(TypeHello)
}

// TestJWTLeeway: a token that expired within TokenLeeway still opens a room
// (clock skew), and is closed with 1008 once exp + TokenLeeway passes.
func TestJWTLeeway(t *testing.T) {
	_, u := startServer(t, Config{AuthSecret: []byte(testSecret), PingInterval: 50 * time.Millisecond, ReadTimeout: 10 * time.Second})
	exp := time.Unix(time.Now().Add(-TokenLeeway+1500*time.Millisecond).Unix(), 0)
	tok := mintWith(t, []byte(testSecret), Claims{Room: "r", Subscribe: true, Expires: exp.Unix()})
	c := dial(t, u, "r", dialOpt{query: "token=" + tok})
	c.expect(TypeHello)
	if code := c.closeCode(10 * time.Second); code != ClosePolicy {
		t.Fatalf("close at expiry: got %d, want 1008", code)
	}
	if time.Now().Before(exp.Add(TokenLeeway)) {
		t.Fatalf("closed before exp + leeway")
	}
	// nbf within the leeway is accepted too.
	nbf := mintWith(t, []byte(testSecret), Claims{Room: "r", Subscribe: true, NotBefore: time.Now().Add(TokenLeeway / 2).Unix()})
	dial(t, u, "r", dialOpt{query: "token=" + nbf}).expect(TypeHello)
}

// TestJWTBearerHeader: programs pass the token as Authorization: Bearer.
func TestJWTBearerHeader(t *testing.T) {
	_, u := startServer(t, Config{AuthSecret: []byte(testSecret)})
	h := http.Header{}
	h.Set("Authorization", "Bearer "+mintWith(t, []byte(testSecret), Claims{Room: "art-*", Subscribe: true}))
	dial(t, u, "art-2", dialOpt{header: h}).expect(TypeHello)
}

// TestJWTKidPicksKey: with a JWKS of two RSA keys, kid picks the key; a
// token whose kid names the other key is refused.
func TestJWTKidPicksKey(t *testing.T) {
	k := getTestKeys(t)
	_, u := startServer(t, Config{AuthPublicKeys: mustParseKeys(t, jwksOf(t, map[string]any{"a": k.rsa, "b": k.other, "e": k.ec}))})
	c := Claims{Room: "kid", Subscribe: true, Expires: hour()}
	for _, tc := range []struct {
		key    any
		kid    string
		status int
	}{
		{k.rsa, "a", 0},
		{k.other, "b", 0},
		{k.rsa, "", 0},    // no kid: every RS256 key is tried
		{k.ec, "e", 0},    //
		{k.rsa, "b", 401}, // kid names another key
		{k.rsa, "e", 401}, // kid names a key of another type
		{k.ed, "", 401},   // no EdDSA key at all
	} {
		tok, err := MintTokenKID(tc.key, tc.kid, c)
		if err != nil {
			t.Fatal(err)
		}
		cl, resp, err := tryDial(t, u, "kid", dialOpt{query: "token=" + tok})
		if tc.status == 0 {
			if err != nil {
				t.Fatalf("kid %q: %v", tc.kid, err)
			}
			cl.close()
			continue
		}
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			t.Fatalf("kid %q with the wrong key: got %v, want HTTP %d", tc.kid, err, tc.status)
		}
	}
}

// TestAPIRoomsAdminPattern: an admin token lists only the rooms its room
// pattern covers.
func TestAPIRoomsAdminPattern(t *testing.T) {
	secret := []byte(testSecret)
	srv, u := startServer(t, Config{AuthSecret: secret})
	for _, room := range []string{"team-a", "team-b", "other"} {
		dial(t, u, room, dialOpt{query: "token=" + mintWith(t, secret, Claims{Room: room, Subscribe: true})}).expect(TypeHello)
	}
	list := func(tok string) []string {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/rooms", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		srv.Handler().ServeHTTP(rec, req)
		var body struct {
			Rooms []RoomStats `json:"rooms"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
			t.Fatalf("/api/rooms: got %d %s", rec.Code, rec.Body)
		}
		var names []string
		for _, r := range body.Rooms {
			names = append(names, r.Room)
		}
		return names
	}
	for pattern, want := range map[string]string{"*": "other team-a team-b", "team-*": "team-a team-b", "other": "other", "nothing-*": ""} {
		if got := strings.Join(list(mintWith(t, secret, Claims{Room: pattern, Admin: true})), " "); got != want {
			t.Errorf("admin of %q: got rooms [%s], want [%s]", pattern, got, want)
		}
	}
}

func TestMintTokenRejectsBadInput(t *testing.T) {
	k := getTestKeys(t)
	for name, tc := range map[string]struct {
		key any
		c   Claims
	}{
		"empty secret": {[]byte(nil), Claims{Room: "a", Expires: hour()}},
		"bad room":     {[]byte("s"), Claims{Room: "bad room", Expires: hour()}},
		"no expiry":    {[]byte("s"), Claims{Room: "a"}},
		"bad sub":      {[]byte("s"), Claims{Room: "a", Subject: "a b", Expires: hour()}},
		"public key":   {k.rsa.Public(), Claims{Room: "a", Expires: hour()}},
		"a string":     {"secret", Claims{Room: "a", Expires: hour()}},
	} {
		if tok, err := MintToken(tc.key, tc.c); err == nil {
			t.Errorf("%s: got token %q, want an error", name, tok)
		}
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
