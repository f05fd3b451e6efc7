package relay

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePublicKeys(t *testing.T) {
	k := getTestKeys(t)
	keys := mustParseKeys(t, k.pemOfAll(t))
	if len(keys) != 3 {
		t.Fatalf("PEM: got %d keys, want 3", len(keys))
	}
	for i, want := range []string{"RS256", "ES256", "EdDSA"} {
		if alg, err := algorithmFor(keys[i].Key); err != nil || alg != want {
			t.Errorf("PEM key %d: got %s (%v), want %s", i+1, alg, err, want)
		}
	}
	// PKCS #1 and certificates are read too.
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	if keys := mustParseKeys(t, pkcs1); !keys[0].Key.(*rsa.PublicKey).Equal(&k.rsa.PublicKey) {
		t.Error("PKCS #1: got another key")
	}
	jwks := mustParseKeys(t, jwksOf(t, map[string]any{"r": k.rsa, "e": k.ec, "d": k.ed}))
	byID := map[string]any{}
	for _, pk := range jwks {
		byID[pk.ID] = pk.Key
	}
	if !byID["r"].(*rsa.PublicKey).Equal(&k.rsa.PublicKey) || !byID["e"].(*ecdsa.PublicKey).Equal(&k.ec.PublicKey) || !byID["d"].(ed25519.PublicKey).Equal(k.ed.Public()) {
		t.Errorf("JWKS: keys differ from the ones written")
	}

	// And LoadPublicKeys reads a file.
	file := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(file, k.pemOfAll(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if keys, err := LoadPublicKeys(file); err != nil || len(keys) != 3 {
		t.Fatalf("LoadPublicKeys: got %d keys, %v", len(keys), err)
	}
}

func TestParsePublicKeysRefuses(t *testing.T) {
	k := getTestKeys(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	for name, tc := range map[string]struct {
		data string
		want string
	}{
		"empty":             {"", "no public key"},
		"private key PEM":   {string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})), "private key"},
		"P-384":             {string(publicPEM(t, p384)), "P-256"},
		"RSA 1024":          {string(publicPEM(t, small)), "2048"},
		"junk after PEM":    {string(publicPEM(t, k.ec)) + "junk", "neither PEM nor JSON"},
		"bad PEM body":      {"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "PEM block 1"},
		"JWKS private":      {`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}`, "private key"},
		"JWKS enc":          {`{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, "use"},
		"JWKS alg mismatch": {`{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"HS256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, "alg"},
		"JWKS oct":          {`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, "kty"},
		"JWKS X25519":       {`{"keys":[{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, "crv"},
		"JWKS EC off curve": {`{"keys":[{"kty":"EC","crv":"P-256","x":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`, "JWKS key 1"},
		"JWKS RSA e even":   {`{"keys":[{"kty":"RSA","n":"` + strings.Repeat("A", 342) + `","e":"Ag"}]}`, "exponent"},
		"JWKS bad JSON":     {`{"keys":[`, "JWKS"},
		"JWKS empty":        {`{"keys":[]}`, "no public key"},
	} {
		_, err := ParsePublicKeys([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, tc.want)
		}
	}
	if _, err := NewVerifier(nil, []PublicKey{{Key: &k.rsa.PublicKey}, {Key: "not a key"}}); err == nil {
		t.Error("NewVerifier with a string key: got no error")
	}
	if v, err := NewVerifier(nil, nil); v != nil || err != nil {
		t.Errorf("NewVerifier with nothing: got %v, %v; want nil, nil (tokens off)", v, err)
	}
}

// TestVerifyHeaderCase: the header is read as the library reads it (exact
// keys), so a second "Alg" cannot pick another parser than "alg" names.
func TestVerifyHeaderCase(t *testing.T) {
	k := getTestKeys(t)
	v, err := NewVerifier([]byte(testSecret), mustParseKeys(t, k.pemOfAll(t)))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := MintToken([]byte(testSecret), Claims{Room: "a", Subscribe: true, Expires: hour()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("the plain token: %v", err)
	}
	rest := tok[strings.Index(tok, "."):]
	for _, header := range []string{`{"alg":"HS256","Alg":"RS256","typ":"JWT"}`, `{"Alg":"RS256","alg":"HS256","typ":"JWT"}`} {
		if _, err := v.Verify(base64.RawURLEncoding.EncodeToString([]byte(header)) + rest); err == nil {
			t.Errorf("header %s with a signature over another header: verified", header)
		}
	}
	if _, err := v.Verify(base64.RawURLEncoding.EncodeToString([]byte(`{"ALG":"HS256"}`)) + rest); !errors.Is(err, ErrTokenAlgorithm) {
		t.Errorf(`header {"ALG":"HS256"}: got %v, want ErrTokenAlgorithm`, err)
	}
}
