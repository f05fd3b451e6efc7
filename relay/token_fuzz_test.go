package relay

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// FuzzVerifyToken: no input panics the verifier, and none but the exact
// tokens that were signed verifies (the signature covers every byte, and
// base64 is decoded strictly). The keys and claims are fixed, and HS256 and
// Ed25519 signatures deterministic, so every fuzz worker signs the same
// tokens.
func FuzzVerifyToken(f *testing.F) {
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	v, err := NewVerifier([]byte(testSecret), []PublicKey{{Key: ed.Public()}})
	if err != nil {
		f.Fatal(err)
	}
	c := Claims{Room: "art", Publish: true, Subject: "alice", Name: "Alice", Expires: 4102444800}
	valid := map[string]bool{}
	for _, key := range []any{[]byte(testSecret), ed} {
		tok, err := MintToken(key, c)
		if err != nil {
			f.Fatal(err)
		}
		valid[tok] = true
		f.Add(tok)
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := v.Verify(tok)
		if err == nil && !valid[tok] {
			t.Fatalf("verified a token that was never signed: %q (%+v)", tok, got)
		}
		if err == nil && got != c {
			t.Fatalf("claims: got %+v, want %+v", got, c)
		}
	})
}
