package relay

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
)

// PublicKey is a key that checks room tokens signed by someone else: an
// *rsa.PublicKey (RS256, 2048 bits or more), an *ecdsa.PublicKey on P-256
// (ES256) or an ed25519.PublicKey (EdDSA). The key's type fixes the one
// algorithm it checks.
type PublicKey struct {
	// ID is the key's JWK "kid". A token whose header names a kid is checked
	// by the keys with that kid when there are some, else by the keys with
	// no ID. Empty for keys read from PEM.
	ID  string
	Key any
}

// Bounds on a public key file.
const (
	maxKeyFileBytes = 1 << 20
	maxPublicKeys   = 64
)

// LoadPublicKeys reads public keys from a file: PEM (one or more "PUBLIC
// KEY", "RSA PUBLIC KEY" or "CERTIFICATE" blocks) or a JWKS JSON document
// ({"keys":[…]}).
func LoadPublicKeys(file string) ([]PublicKey, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("relay: public keys: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, maxKeyFileBytes+1)); err != nil {
		return nil, fmt.Errorf("relay: public keys %s: %w", file, err)
	}
	if buf.Len() > maxKeyFileBytes {
		return nil, fmt.Errorf("relay: public keys %s: larger than %d bytes", file, maxKeyFileBytes)
	}
	keys, err := ParsePublicKeys(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("relay: public keys %s: %w", file, err)
	}
	return keys, nil
}

// ParsePublicKeys reads public keys from PEM or JWKS text (see
// LoadPublicKeys). Every key must be usable: an unsupported one is an error,
// never skipped, so that a deployment does not lose a key silently.
func ParsePublicKeys(data []byte) ([]PublicKey, error) {
	var keys []PublicKey
	var err error
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		keys, err = parseJWKS(t)
	} else {
		keys, err = parsePEMKeys(data)
	}
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key found")
	}
	if len(keys) > maxPublicKeys {
		return nil, fmt.Errorf("%d keys: at most %d", len(keys), maxPublicKeys)
	}
	for i, k := range keys {
		if _, err := algorithmFor(k.Key); err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i+1, k.ID, err)
		}
	}
	return keys, nil
}

func parsePEMKeys(data []byte) ([]PublicKey, error) {
	var keys []PublicKey
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var key any
		var err error
		switch {
		case b.Type == "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(b.Bytes)
		case b.Type == "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case b.Type == "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				key = cert.PublicKey
			}
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("PEM block %d is a private key: give the relay only public keys (openssl pkey -pubout)", n)
		default:
			return nil, fmt.Errorf("PEM block %d: unexpected type %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", n, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, PublicKey{Key: key})
	}
	if len(bytes.TrimSpace(data)) > 0 {
		return nil, errors.New("text that is neither PEM nor JSON (a JWKS must start with {)")
	}
	return keys, nil
}

// jwk is the part of an RFC 7517 JSON Web Key the relay reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

func parseJWKS(data []byte) ([]PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := make([]PublicKey, 0, len(set.Keys))
	for i, k := range set.Keys {
		key, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i+1, k.Kid, err)
		}
		keys = append(keys, PublicKey{ID: k.Kid, Key: key})
	}
	return keys, nil
}

func (k jwk) publicKey() (any, error) {
	if k.D != "" {
		return nil, errors.New("a private key: give the relay only public keys")
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("use %q: want sig", k.Use)
	}
	want := map[string]string{"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}[k.Kty]
	if want == "" {
		return nil, fmt.Errorf("kty %q: want RSA, EC or OKP", k.Kty)
	}
	if k.Alg != "" && k.Alg != want {
		return nil, fmt.Errorf("alg %q: a %s key here checks %s only", k.Alg, k.Kty, want)
	}
	switch k.Kty {
	case "RSA":
		n, err1 := b64url(k.N)
		e, err2 := b64url(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, errors.New("RSA exponent out of range")
		}
		exp := new(big.Int).SetBytes(e)
		if exp.Int64() < 3 || exp.Bit(0) == 0 {
			return nil, errors.New("RSA exponent out of range")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("crv %q: want P-256", k.Crv)
		}
		x, err1 := b64url(k.X)
		y, err2 := b64url(k.Y)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if len(x) != 32 || len(y) != 32 {
			return nil, errors.New("P-256 coordinates must be 32 bytes each")
		}
		// ParseUncompressedPublicKey checks that the point is on the curve.
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	default: // OKP
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("crv %q: want Ed25519", k.Crv)
		}
		x, err := b64url(k.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, errors.New("Ed25519 key must be 32 bytes")
		}
		return ed25519.PublicKey(x), nil
	}
}

func b64url(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("missing key parameter")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key parameter: %w", err)
	}
	return b, nil
}
