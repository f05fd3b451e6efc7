package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Room tokens. When Config.AuthSecret is set, every connection needs a token:
//
//	base64url(claims JSON) "." base64url(HMAC-SHA256(secret, claims JSON))
//
// The claims name a room (exact, or a prefix pattern ending in "*"), the
// rights (publish: send images and chat; subscribe: receive the room's
// frames, chat and presence), and an expiry. A client passes it as the
// "token" query parameter (browsers cannot set headers on a WebSocket) or
// as "Authorization: Bearer …". When a token expires during a session, the
// relay closes the connection with 1008 "token expired"; the client
// reconnects with a fresh one.

// Claims are what a token grants.
type Claims struct {
	Room      string `json:"room"`          // room name, or a prefix ending in "*"
	Publish   bool   `json:"pub,omitempty"` // may send images and chat
	Subscribe bool   `json:"sub,omitempty"` // receives the room's traffic
	Admin     bool   `json:"adm,omitempty"` // may read /api/rooms
	Expires   int64  `json:"exp"`           // Unix seconds

	// Subject binds the connection's client id (the JWT "sub").
	Subject string `json:"client,omitempty"`
}

// Token errors.
var (
	ErrTokenMissing   = errors.New("token missing")
	ErrTokenMalformed = errors.New("token malformed")
	ErrTokenSignature = errors.New("token signature does not match")
	ErrTokenExpired   = errors.New("token expired")
	ErrTokenRoom      = errors.New("token is not for this room")
)

var b64 = base64.RawURLEncoding

// MintToken signs claims with secret.
func MintToken(secret []byte, c Claims) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("relay: empty token secret")
	}
	if c.Room != "*" && !validRoomPattern(c.Room) {
		return "", fmt.Errorf("relay: bad room pattern %q", c.Room)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(body) + "." + b64.EncodeToString(sign(secret, body)), nil
}

func sign(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

// VerifyToken checks a token's signature and expiry and returns its claims.
func VerifyToken(secret []byte, token string, now time.Time) (Claims, error) {
	if token == "" {
		return Claims{}, ErrTokenMissing
	}
	if len(token) > 2048 {
		return Claims{}, ErrTokenMalformed
	}
	p, s, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrTokenMalformed
	}
	body, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(s)
	if err1 != nil || err2 != nil {
		return Claims{}, ErrTokenMalformed
	}
	if !hmac.Equal(mac, sign(secret, body)) {
		return Claims{}, ErrTokenSignature
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, ErrTokenMalformed
	}
	if now.Unix() >= c.Expires {
		return Claims{}, ErrTokenExpired
	}
	return c, nil
}

// AllowsRoom reports whether the claims cover room.
func (c Claims) AllowsRoom(room string) bool {
	if prefix, ok := strings.CutSuffix(c.Room, "*"); ok {
		return strings.HasPrefix(room, prefix)
	}
	return c.Room == room
}

func validRoomPattern(p string) bool {
	if prefix, ok := strings.CutSuffix(p, "*"); ok {
		return prefix == "" || validToken(prefix, 63)
	}
	return ValidRoom(p)
}

// tokenFrom reads the token of a request: the query parameter, else the
// bearer header.
func tokenFrom(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
