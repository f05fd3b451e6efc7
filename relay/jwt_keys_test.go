package relay

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
)

// testKeys are one signing key of each public-key algorithm, made once per
// test binary (RSA key generation is slow under -race).
type testKeys struct {
	rsa   *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	other *rsa.PrivateKey // a key the relay does not know
}

var (
	keysOnce sync.Once
	keysVal  testKeys
)

func getTestKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if keysVal.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keysVal.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keysVal.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if _, keysVal.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
	return keysVal
}

// publicPEM returns the PKIX PEM of a private key's public half.
func publicPEM(t testing.TB, priv crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// pemOfAll is one PEM file with the public keys of k (not other).
func (k testKeys) pemOfAll(t testing.TB) []byte {
	var b []byte
	for _, p := range []crypto.Signer{k.rsa, k.ec, k.ed} {
		b = append(b, publicPEM(t, p)...)
	}
	return b
}

// jwksOf returns a JWKS document for the named public keys.
func jwksOf(t testing.TB, named map[string]any) []byte {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	var keys []map[string]string
	for kid, k := range named {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			e := []byte{byte(k.E >> 16), byte(k.E >> 8), byte(k.E)}
			keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": enc(k.N.Bytes()), "e": enc(e)})
		case *ecdsa.PrivateKey:
			b, err := k.PublicKey.Bytes() // 0x04 || X || Y
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": enc(b[1:33]), "y": enc(b[33:])})
		case ed25519.PrivateKey:
			keys = append(keys, map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": enc(k.Public().(ed25519.PublicKey))})
		default:
			t.Fatalf("jwksOf: %T", k)
		}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParseKeys(t testing.TB, data []byte) []PublicKey {
	t.Helper()
	keys, err := ParsePublicKeys(data)
	if err != nil {
		t.Fatalf("ParsePublicKeys: %v", err)
	}
	return keys
}

// authFailures returns canvasrelay_auth_failures_total for reason.
func authFailures(t testing.TB, srv *Server, reason string) int {
	t.Helper()
	prefix := `canvasrelay_auth_failures_total{reason="` + reason + `"} `
	for _, line := range strings.Split(scrape(t, srv), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			var n int
			if err := json.Unmarshal([]byte(v), &n); err != nil {
				t.Fatalf("metric %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}
