package relay

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Room tokens are standard JWTs (RFC 7519), checked by
// github.com/golang-jwt/jwt/v5. When Config.AuthSecret or
// Config.AuthPublicKeys is set, every connection needs one. A client passes
// it as the "token" query parameter (browsers cannot set headers on a
// WebSocket) or as "Authorization: Bearer …".
//
// Algorithms are pinned by the key that checks them: HS256 with AuthSecret,
// RS256 with an RSA key, ES256 with a P-256 key, EdDSA with an Ed25519 key.
// A token whose "alg" no configured key has (none included) is refused
// before any signature check, and a token is only ever checked by keys of
// its own algorithm, so an HS256 token "signed" with a public key's bytes
// never meets that key.
//
// Claims (JSON names): exp (required), nbf, iat, sub (binds the client id),
// name (display name), and the relay's own: room (a room name, or a prefix
// ending in "*"), publish, subscribe, admin (booleans). Times are checked with
// TokenLeeway for clock skew. When a token expires during a session the relay
// closes the connection with 1008 "token expired" (at exp + TokenLeeway); the
// client reconnects with a fresh one.

// TokenLeeway is the clock skew allowed on exp, nbf and iat.
const TokenLeeway = 30 * time.Second

// maxTokenBytes bounds the token the relay will parse at all.
const maxTokenBytes = 4096

// Claims are what a token grants. Times are Unix seconds; zero means absent.
type Claims struct {
	Room      string `json:"room"`                // room name, or a prefix ending in "*" ("*" alone: every room)
	Publish   bool   `json:"publish,omitempty"`   // may send images, chat and game commands
	Subscribe bool   `json:"subscribe,omitempty"` // receives the room's traffic
	Admin     bool   `json:"admin,omitempty"`     // may read /api/rooms for the rooms Room covers
	Subject   string `json:"sub,omitempty"`       // when set, the only client id this token may use
	Name      string `json:"name,omitempty"`      // when set, the display name (overrides ?name=)
	Expires   int64  `json:"exp"`                 // required
	NotBefore int64  `json:"nbf,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
}

// Token errors. Verify wraps one of them with the library's reason.
var (
	ErrTokenMissing     = errors.New("token missing")
	ErrTokenMalformed   = errors.New("token malformed")
	ErrTokenAlgorithm   = errors.New("token algorithm not accepted")
	ErrTokenSignature   = errors.New("token signature does not match")
	ErrTokenExpired     = errors.New("token expired")
	ErrTokenNotYetValid = errors.New("token not valid yet")
	ErrTokenClaims      = errors.New("token claims invalid")
	ErrTokenRoom        = errors.New("token is not for this room")
	ErrTokenRights      = errors.New("token grants neither publish nor subscribe")
	ErrTokenSubject     = errors.New("token is for another client")
)

// admits checks a verified token against a connection to room that asks
// for client id client (empty: none asked).
func (c Claims) admits(room, client string) error {
	switch {
	case !c.AllowsRoom(room):
		return fmt.Errorf("%w: it covers %q", ErrTokenRoom, c.Room)
	case !c.Publish && !c.Subscribe:
		return ErrTokenRights
	case c.Subject != "" && client != "" && client != c.Subject:
		return fmt.Errorf("%w: its sub is %q; leave ?client= out or set it to the sub", ErrTokenSubject, c.Subject)
	}
	return nil
}

// tokenStatus is the HTTP status of a refused token: 403 when it is valid
// but does not grant this (room, rights, client id), else 401.
func tokenStatus(err error) int {
	if errors.Is(err, ErrTokenRoom) || errors.Is(err, ErrTokenRights) || errors.Is(err, ErrTokenSubject) {
		return http.StatusForbidden
	}
	return http.StatusUnauthorized
}

// UnmarshalJSON reads exp, nbf and iat as JSON numbers that may have a
// fraction (RFC 7519 NumericDate), truncated to seconds.
func (c *Claims) UnmarshalJSON(b []byte) error {
	type plain Claims
	var w struct {
		plain
		Expires   *jwt.NumericDate `json:"exp"`
		NotBefore *jwt.NumericDate `json:"nbf"`
		IssuedAt  *jwt.NumericDate `json:"iat"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Claims(w.plain)
	c.Expires, c.NotBefore, c.IssuedAt = unix(w.Expires), unix(w.NotBefore), unix(w.IssuedAt)
	return nil
}

func unix(d *jwt.NumericDate) int64 {
	if d == nil {
		return 0
	}
	return d.Unix()
}

func numericDate(sec int64) (*jwt.NumericDate, error) {
	if sec == 0 {
		return nil, nil
	}
	return jwt.NewNumericDate(time.Unix(sec, 0)), nil
}

// The jwt.Claims interface, so that the library checks exp, nbf and iat.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate(c.Expires) }
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error)      { return numericDate(c.NotBefore) }
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error)       { return numericDate(c.IssuedAt) }
func (c *Claims) GetIssuer() (string, error)                   { return "", nil }
func (c *Claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *Claims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// Validate checks the relay's own claims; the library calls it after the
// signature and the times.
func (c *Claims) Validate() error {
	switch {
	case !validRoomPattern(c.Room):
		return fmt.Errorf("room %q: want a room name, or a prefix ending in *", c.Room)
	case c.Subject != "" && !validToken(c.Subject, 64):
		return fmt.Errorf("sub %q: want a client id of %s", c.Subject, wire.NameRule)
	case len(c.Name) > 256:
		return errors.New("name longer than 256 bytes")
	}
	return nil
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

// MintToken signs claims with key: a []byte secret (HS256), an
// *rsa.PrivateKey (RS256), an *ecdsa.PrivateKey on P-256 (ES256) or an
// ed25519.PrivateKey (EdDSA). kid, when not empty, goes in the header so
// that a relay with several public keys picks the right one.
func MintToken(key any, c Claims) (string, error) { return MintTokenKID(key, "", c) }

// MintTokenKID is MintToken with a key id in the header.
func MintTokenKID(key any, kid string, c Claims) (string, error) {
	if c.Expires == 0 {
		return "", errors.New("relay: a token needs an expiry (exp)")
	}
	if err := c.Validate(); err != nil {
		return "", fmt.Errorf("relay: %w", err)
	}
	m, err := signingMethod(key)
	if err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(m, &c)
	if kid != "" {
		t.Header["kid"] = kid
	}
	return t.SignedString(key)
}

func signingMethod(key any) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case []byte:
		if len(k) == 0 {
			return nil, errors.New("relay: empty token secret")
		}
		return jwt.SigningMethodHS256, nil
	case *rsa.PrivateKey:
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("relay: ECDSA keys must be on P-256 (ES256)")
		}
		return jwt.SigningMethodES256, nil
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	default:
		return nil, fmt.Errorf("relay: cannot sign with a %T: want a secret, an RSA, P-256 or Ed25519 private key", key)
	}
}

// tokenFrom reads the token of a request: the query parameter, else the
// bearer header.
func tokenFrom(r *http.Request) string {
	if t := r.URL.Query().Get(wire.QueryToken); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authReason names a refused token for canvasrelay_auth_failures_total.
func authReason(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{ErrTokenMissing, "missing"},
		{ErrTokenAlgorithm, "algorithm"},
		{ErrTokenSignature, "signature"},
		{ErrTokenExpired, "expired"},
		{ErrTokenNotYetValid, "not_yet_valid"},
		{ErrTokenClaims, "claims"},
		{ErrTokenRoom, "room"},
		{ErrTokenRights, "rights"},
		{ErrTokenSubject, "subject"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "malformed"
}
