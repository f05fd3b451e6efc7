package relay

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A Verifier checks room tokens against the configured keys. It is safe for
// concurrent use and static after NewVerifier.
type Verifier struct {
	parsers map[string]*jwt.Parser // per algorithm, each accepting only that algorithm
	keys    map[string][]verifyKey // per algorithm
	algs    string                 // the accepted algorithms, for messages
}

type verifyKey struct {
	kid string
	key any // []byte (HS256), *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// minRSABits is the smallest RSA key accepted for RS256.
const minRSABits = 2048

// NewVerifier returns a Verifier for an HS256 secret (may be empty) and
// public keys (may be none). It returns nil and no error when both are
// empty: tokens are off.
func NewVerifier(secret []byte, keys []PublicKey) (*Verifier, error) {
	return newVerifier(secret, keys, time.Now)
}

func newVerifier(secret []byte, keys []PublicKey, now func() time.Time) (*Verifier, error) {
	v := &Verifier{parsers: map[string]*jwt.Parser{}, keys: map[string][]verifyKey{}}
	if len(secret) > 0 {
		v.keys[jwt.SigningMethodHS256.Alg()] = []verifyKey{{key: secret}}
	}
	for i, k := range keys {
		alg, err := algorithmFor(k.Key)
		if err != nil {
			return nil, fmt.Errorf("relay: public key %d (kid %q): %w", i+1, k.ID, err)
		}
		v.keys[alg] = append(v.keys[alg], verifyKey{kid: k.ID, key: k.Key})
	}
	if len(v.keys) == 0 {
		return nil, nil
	}
	var algs []string
	for alg := range v.keys {
		// The pin: a parser that accepts exactly this key type's algorithm.
		v.parsers[alg] = jwt.NewParser(
			jwt.WithValidMethods([]string{alg}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(TokenLeeway),
			jwt.WithTimeFunc(now),
			jwt.WithStrictDecoding(),
		)
		algs = append(algs, alg)
	}
	sort.Strings(algs)
	v.algs = strings.Join(algs, ", ")
	return v, nil
}

// algorithmFor pins a public key to the one algorithm it may check.
func algorithmFor(key any) (string, error) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N == nil || k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key shorter than %d bits", minRSABits)
		}
		return jwt.SigningMethodRS256.Alg(), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("ECDSA key not on P-256: only ES256 is accepted")
		}
		return jwt.SigningMethodES256.Alg(), nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("Ed25519 key of the wrong size")
		}
		return jwt.SigningMethodEdDSA.Alg(), nil
	default:
		return "", fmt.Errorf("unsupported key type %T: want RSA, ECDSA P-256 or Ed25519", key)
	}
}

// Verify checks a token's algorithm, signature, times and claims, and returns
// its claims. Errors wrap one of the ErrToken… sentinels.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrTokenMissing
	}
	if len(token) > maxTokenBytes {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrTokenMalformed, maxTokenBytes)
	}
	// Read the header only to choose the parser; the chosen parser reads
	// everything again and verifies it.
	alg, kid, err := tokenHeader(token)
	if err != nil {
		return Claims{}, err
	}
	p, ok := v.parsers[alg]
	if !ok {
		return Claims{}, fmt.Errorf("%w: %q (this relay accepts %s)", ErrTokenAlgorithm, alg, v.algs)
	}
	keys := v.keysFor(alg, kid)
	if len(keys) == 0 {
		return Claims{}, fmt.Errorf("%w: no %s key with kid %q", ErrTokenSignature, alg, kid)
	}
	var c Claims
	_, err = p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		return jwt.VerificationKeySet{Keys: keys}, nil
	})
	if err != nil {
		return Claims{}, tokenError(err)
	}
	return c, nil
}

// keysFor returns the keys that may check a token of alg with kid: those
// with that kid when some key of alg has it, else those with no kid.
func (v *Verifier) keysFor(alg, kid string) []jwt.VerificationKey {
	var named, anon []jwt.VerificationKey
	for _, k := range v.keys[alg] {
		switch {
		case alg == jwt.SigningMethodHS256.Alg(), kid == "":
			anon = append(anon, k.key) // the secret ignores kid; no kid tries every key of alg
		case k.kid == kid:
			named = append(named, k.key)
		case k.kid == "":
			anon = append(anon, k.key)
		}
	}
	if len(named) > 0 {
		return named
	}
	return anon
}

// tokenHeader returns the alg and kid of a token's header, unverified.
func tokenHeader(token string) (alg, kid string, err error) {
	var h map[string]any // as the library reads it: keys match exactly
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", fmt.Errorf("%w: not a JWT (header.claims.signature)", ErrTokenMalformed)
	}
	p := jwt.NewParser()
	b, err := p.DecodeSegment(head)
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: header: %v", ErrTokenMalformed, err)
	}
	alg, _ = h["alg"].(string)
	kid, _ = h["kid"].(string)
	return alg, kid, nil
}

// tokenError maps the library's errors to the relay's sentinels.
func tokenError(err error) error {
	var e error
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		e = ErrTokenMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		e = ErrTokenSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		e = ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		e = ErrTokenNotYetValid
	default: // a required claim missing, a claim of the wrong type, or Claims.Validate
		e = ErrTokenClaims
	}
	return fmt.Errorf("%w: %v", e, err)
}
