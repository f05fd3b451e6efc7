package relay

import (
	"testing"
	"time"
)

// BenchmarkVerifyToken is the cost of checking one token at an upgrade, per
// algorithm.
func BenchmarkVerifyToken(b *testing.B) {
	k := getTestKeys(b)
	v, err := NewVerifier([]byte(testSecret), mustParseKeys(b, k.pemOfAll(b)))
	if err != nil {
		b.Fatal(err)
	}
	c := Claims{Room: "art", Publish: true, Subscribe: true, Subject: "alice", Expires: time.Now().Add(time.Hour).Unix()}
	for _, tc := range []struct {
		alg string
		key any
	}{{"HS256", []byte(testSecret)}, {"RS256", k.rsa}, {"ES256", k.ec}, {"EdDSA", k.ed}} {
		tok, err := MintToken(tc.key, c)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
