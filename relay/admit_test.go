package relay

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// admitCase is one request to admit and what it must decide.
type admitCase struct {
	name   string
	gate   string // "open", "auth", "closing", "allow", "proxy"
	method string // default GET
	path   string // default /ws/art
	query  string
	header http.Header
	remote string // default 192.0.2.1:5555

	// A refusal: its status, its message (exactly, or its start and end
	// when the token library words the middle), its headers and its
	// auth-failure label.
	status     int
	msg        string
	msgPrefix  string
	msgSuffix  string
	allow      string
	challenge  string
	authReason string

	// An admission: what it carries.
	want admission
}

// TestAdmit: admit decides every refusal before the upgrade, each with its
// status, message and headers, in the order the table in admit.go gives,
// and lets the rest through with the room, rights, client id asked, name,
// rendition, address and subprotocol it read.
func TestAdmit(t *testing.T) {
	secret := []byte(testSecret)
	v, err := NewVerifier(secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	allow, err := parseOriginPattern("https://draw.example")
	if err != nil {
		t.Fatal(err)
	}
	gates := map[string]gate{
		"open":    {},
		"auth":    {auth: v},
		"closing": {closing: true},
		"allow":   {origins: []originPattern{allow}},
		"proxy":   {trustProxy: true},
	}
	tok := func(c Claims) string { return url.QueryEscape(mintWith(t, secret, c)) }
	art := Claims{Room: "art", Publish: true, Subscribe: true}
	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	hdr := func(k, v string) http.Header { return http.Header{k: {v}} }
	expired := url.QueryEscape(signRaw(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"room": "art", "publish": true, "exp": time.Now().Add(-time.Hour).Unix()}))
	all := Claims{Publish: true, Subscribe: true}
	const ip = "192.0.2.1"

	for _, tc := range []admitCase{
		// The room name comes first: even a POST to a bad room is a 400.
		{name: "empty room", path: "/ws/", status: 400, msg: msgBadRoom},
		{name: "room with a slash", path: "/ws/a/b", status: 400, msg: msgBadRoom},
		{name: "room with a space", path: "/ws/a b", status: 400, msg: msgBadRoom},
		{name: "room of 65 characters", path: "/ws/" + strings.Repeat("a", 65), status: 400, msg: msgBadRoom},
		{name: "room not ASCII", path: "/ws/caf\u00e9", status: 400, msg: msgBadRoom},
		{name: "bad room and bad method", path: "/ws/a%b", method: "POST", status: 400, msg: msgBadRoom},
		{name: "POST", method: "POST", status: 405, msg: msgBadMethod, allow: "GET"},
		{name: "HEAD", method: "HEAD", status: 405, msg: msgBadMethod, allow: "GET"},
		{name: "shutting down", gate: "closing", status: 503, msg: msgClosing},
		{name: "shutting down, bad origin too", gate: "closing", header: origin("http://evil.example"), status: 503, msg: msgClosing},
		// Origin: the request's own host by default, http or https only.
		{name: "origin of another host", header: origin("http://evil.example"), status: 403, msg: msgBadOrigin},
		{name: "origin null", header: origin("null"), status: 403, msg: msgBadOrigin},
		{name: "origin of a file", header: origin("file://relay.test"), status: 403, msg: msgBadOrigin},
		{name: "origin with a path", header: origin("http://relay.test/x"), status: 403, msg: msgBadOrigin},
		{name: "origin of an extension", header: origin("chrome-extension://relay.test"), status: 403, msg: msgBadOrigin},
		{name: "origin not in the allow-list", gate: "allow", header: origin("http://relay.test"), status: 403, msg: msgBadOrigin},
		{name: "origin checked before the token", gate: "auth", header: origin("http://evil.example"), status: 403, msg: msgBadOrigin},
		// Tokens: 401 with a challenge when missing or not valid, 403 when
		// valid but not for this.
		{name: "token missing", gate: "auth", status: 401, msg: "token missing" + msgNoToken, challenge: bearerRealm, authReason: "missing"},
		{name: "token garbage", gate: "auth", query: "token=abc", status: 401, msgPrefix: "token malformed", msgSuffix: msgNoToken, challenge: bearerRealm, authReason: "malformed"},
		{name: "token expired", gate: "auth", query: "token=" + expired, status: 401, msgPrefix: "token expired", msgSuffix: msgNoToken, challenge: bearerRealm, authReason: "expired"},
		{name: "bearer header of another secret", gate: "auth", header: hdr("Authorization", "Bearer "+signRaw(t, jwt.SigningMethodHS256, []byte("another secret 0123456789"), jwt.MapClaims{"room": "art", "exp": time.Now().Add(time.Hour).Unix()})), status: 401, msgPrefix: "token signature does not match", msgSuffix: msgNoToken, challenge: bearerRealm, authReason: "signature"},
		{name: "token for another room", gate: "auth", path: "/ws/music", query: "token=" + tok(art), status: 403, msg: `token is not for this room: it covers "art"`, authReason: "room"},
		{name: "token with no rights", gate: "auth", query: "token=" + tok(Claims{Room: "art", Admin: true}), status: 403, msg: "token grants neither publish nor subscribe", authReason: "rights"},
		{name: "token for another client", gate: "auth", query: "client=mallory&token=" + tok(Claims{Room: "art", Publish: true, Subject: "alice"}), status: 403, msg: `token is for another client: its sub is "alice"; leave ?client= out or set it to the sub`, authReason: "subject"},
		{name: "token checked before the client id", gate: "auth", query: "client=bad!", status: 401, msg: "token missing" + msgNoToken, challenge: bearerRealm, authReason: "missing"},
		// The client id asked, then the rendition.
		{name: "client id with a space", query: "client=a+b", status: 400, msg: msgBadClientID},
		{name: "client id of 65 characters", query: "client=" + strings.Repeat("c", 65), status: 400, msg: msgBadClientID},
		{name: "client id checked before the rendition", query: "client=%00&max_width=0", status: 400, msg: msgBadClientID},
		{name: "max_width 0", query: "max_width=0", status: 400, msg: msgBadRend + "max_width must be a whole number from 1 to 16384"},
		{name: "max_height too big", query: "max_height=16385", status: 400, msg: msgBadRend + "max_height must be a whole number from 1 to 16384"},
		{name: "max_width not a number", query: "max_width=wide", status: 400, msgPrefix: msgBadRend + "max_width"},
		{name: "unknown format", query: "format=bmp", status: 400, msgPrefix: msgBadRend},
		{name: "quality 0", query: "format=jpeg&quality=0", status: 400, msgPrefix: msgBadRend},

		// Admitted.
		{name: "a program, nothing asked", want: admission{room: "art", claims: all, ip: ip}},
		{name: "a page of the same host", header: origin("HTTPS://RELAY.TEST"), want: admission{room: "art", claims: all, ip: ip}},
		{name: "an allowed origin", gate: "allow", header: origin("https://draw.example"), want: admission{room: "art", claims: all, ip: ip}},
		{name: "room of 64 characters", path: "/ws/" + strings.Repeat("a", 64), want: admission{room: strings.Repeat("a", 64), claims: all, ip: ip}},
		{name: "client, resume, name", query: "client=c-1.x_Y&resume=r0&name=%20Ann%20", want: admission{room: "art", claims: all, asked: "c-1.x_Y", resume: "r0", name: "Ann", ip: ip}},
		{name: "the subprotocol offered", header: hdr("Sec-WebSocket-Protocol", "x, "+Subprotocol), want: admission{room: "art", claims: all, ip: ip, proto: true}},
		{name: "a token's rights and name", gate: "auth", query: "name=Query&token=" + tok(Claims{Room: "art", Subscribe: true, Subject: "alice", Name: "Alice"}), want: admission{room: "art", claims: Claims{Room: "art", Subscribe: true, Subject: "alice", Name: "Alice"}, name: "Alice", ip: ip}},
		{name: "a bearer token", gate: "auth", header: hdr("Authorization", "bearer "+mintWith(t, secret, art)), want: admission{room: "art", claims: art, ip: ip}},
		{name: "a rendition", query: "max_width=640&format=jpeg&quality=80", want: admission{room: "art", claims: all, ip: ip, rend: &rendition{}}},
		{name: "X-Forwarded-For ignored", header: hdr("X-Forwarded-For", "203.0.113.9"), want: admission{room: "art", claims: all, ip: ip}},
		{name: "X-Forwarded-For trusted", gate: "proxy", header: hdr("X-Forwarded-For", "10.0.0.1, 203.0.113.9"), want: admission{room: "art", claims: all, ip: "203.0.113.9"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, ok := gates[cmp(tc.gate, "open")]
			if !ok {
				t.Fatalf("no gate %q", tc.gate)
			}
			r := httptest.NewRequest(cmp(tc.method, "GET"), "http://relay.test/", nil)
			r.URL.Path, r.URL.RawQuery = cmp(tc.path, "/ws/art"), tc.query
			r.Host, r.RemoteAddr = "relay.test", cmp(tc.remote, ip+":5555")
			for k, vs := range tc.header {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			a, no := g.admit(r)
			if tc.status != 0 {
				checkRefusal(t, no, tc)
				return
			}
			if no != nil {
				t.Fatalf("got refusal %d %q, want an admission", no.status, no.msg)
			}
			if (a.rend == nil) != (tc.want.rend == nil) {
				t.Fatalf("got rendition %+v, want one: %v", a.rend, tc.want.rend != nil)
			}
			a.rend, tc.want.rend = nil, nil
			a.claims.Expires, a.claims.IssuedAt = 0, 0
			if a != tc.want {
				t.Fatalf("got %+v, want %+v", a, tc.want)
			}
		})
	}
}

func checkRefusal(t *testing.T, no *refusal, tc admitCase) {
	t.Helper()
	if no == nil {
		t.Fatalf("admitted, want HTTP %d", tc.status)
	}
	if no.status != tc.status {
		t.Errorf("got status %d, want %d", no.status, tc.status)
	}
	switch {
	case tc.msg != "" && no.msg != tc.msg:
		t.Errorf("got message %q, want %q", no.msg, tc.msg)
	case !strings.HasPrefix(no.msg, tc.msgPrefix) || !strings.HasSuffix(no.msg, tc.msgSuffix):
		t.Errorf("got message %q, want %q … %q", no.msg, tc.msgPrefix, tc.msgSuffix)
	}
	if no.allow != tc.allow || no.challenge != tc.challenge || no.authReason != tc.authReason {
		t.Errorf("got Allow %q, WWW-Authenticate %q, auth failure %q; want %q, %q, %q", no.allow, no.challenge, no.authReason, tc.allow, tc.challenge, tc.authReason)
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestCheckCaps: the caps are checked in order, server, address, then the
// rooms for a new room or the room and its renditions for an existing one,
// and each refusal has its status: 429 for the address, else 503.
func TestCheckCaps(t *testing.T) {
	room := func(c capState) capState { // a room that exists, with space
		c.roomExists, c.members, c.maxMembers, c.renditionFits = true, 1, 4, true
		return c
	}
	base := capState{conns: 1, maxConns: 10, fromIP: 1, maxPerIP: 2, rooms: 1, maxRooms: 2, maxMembers: 4}
	with := func(f func(*capState)) capState { c := base; f(&c); return c }
	for _, tc := range []struct {
		name   string
		c      capState
		want   error
		status int
	}{
		{"a new room fits", base, nil, 0},
		{"an existing room fits", room(base), nil, 0},
		{"server full", with(func(c *capState) { c.conns = 10 }), ErrTooManyConns, 503},
		{"server full before the address", with(func(c *capState) { c.conns, c.fromIP = 10, 2 }), ErrTooManyConns, 503},
		{"address full", with(func(c *capState) { c.fromIP = 2 }), ErrTooManyFromIP, 429},
		{"address full before the rooms", with(func(c *capState) { c.fromIP, c.rooms = 2, 2 }), ErrTooManyFromIP, 429},
		{"too many rooms for a new one", with(func(c *capState) { c.rooms = 2 }), ErrTooManyRooms, 503},
		{"too many rooms, but this one exists", room(with(func(c *capState) { c.rooms = 2 })), nil, 0},
		{"room full", with(func(c *capState) { *c = room(*c); c.members = 4 }), ErrRoomFull, 503},
		{"room full before its renditions", with(func(c *capState) { *c = room(*c); c.members, c.renditionFits = 4, false }), ErrRoomFull, 503},
		{"renditions full", with(func(c *capState) { *c = room(*c); c.renditionFits = false }), ErrTooManyRenditions, 503},
		{"renditions do not matter for a new room", base, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCaps(tc.c)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil {
				return
			}
			no := capRefusal(err)
			if no.status != tc.status || no.msg != tc.want.Error() {
				t.Fatalf("got %d %q, want %d %q", no.status, no.msg, tc.status, tc.want.Error())
			}
		})
	}
}
