package relay

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// holdsDown is a broker whose client lookup fails, as a clustered broker's
// does while its cluster is unreachable.
type holdsDown struct{ *MemoryBroker }

func (holdsDown) ClientHolds(context.Context, string, string) (bool, error) {
	return false, errors.New("lookup down")
}

// Fail closed: when the relay cannot tell whether an id holds anything, an
// unproven id gets a fresh one (never an error), and a proven one is still
// granted.
func TestClientLookupFailsClosed(t *testing.T) {
	srv, u := startServer(t, Config{Broker: holdsDown{NewMemoryBroker(MemoryBrokerConfig{})}})
	a := dial(t, u, "r", dialOpt{query: "client=ann"})
	h := a.expect(TypeHello)
	got, resume := str(h.ev, "client"), str(h.ev, "resume")
	if got == "ann" || got == "" || resume == "" {
		t.Fatalf("lookup down: got client %q resume %q, want a fresh id with its resume", got, resume)
	}
	b := dial(t, u, "r", dialOpt{query: "client=" + got + "&resume=" + resume})
	if h := b.expect(TypeHello); str(h.ev, "client") != got {
		t.Errorf("lookup down, id proven by resume: got %q, want %q", str(h.ev, "client"), got)
	}
	text := scrape(t, srv)
	for _, want := range []string{`canvasrelay_client_grants_total{how="error"} 1`, `canvasrelay_client_grants_total{how="resume"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics: no %q", want)
		}
	}
}

// resume is deterministic per id and key, at most ResumeMaxLen, and
// differs between ids and between keys.
func TestResumeDerivation(t *testing.T) {
	s1 := &Server{idKey: []byte("key-one-key-one-key-one-key-one!")}
	s2 := &Server{idKey: []byte("key-two-key-two-key-two-key-two!")}
	r := s1.resumeFor("alice")
	if r != s1.resumeFor("alice") || len(r) == 0 || len(r) > ResumeMaxLen {
		t.Fatalf("resume %q: want a stable string of 1 to %d characters", r, ResumeMaxLen)
	}
	if r == s1.resumeFor("alicf") || r == s2.resumeFor("alice") {
		t.Errorf("resume does not depend on both the id and the key")
	}
	if !s1.resumeMatches("alice", r) || s1.resumeMatches("alice", r[:len(r)-1]) || s1.resumeMatches("alice", "") || s2.resumeMatches("alice", r) {
		t.Errorf("resumeMatches accepts what it must not, or refuses the right resume")
	}
	k1, _ := identityKey(Config{AuthSecret: []byte("secret")}, nil)
	k2, _ := identityKey(Config{AuthSecret: []byte("secret")}, nil)
	if string(k1) != string(k2) || string(k1) == "secret" {
		t.Errorf("identity key from the auth secret: want one derived key, not the secret itself")
	}
}

func BenchmarkGrantClient(b *testing.B) {
	srv, err := New(Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	rm := newRoom(srv, "bench")
	b.Run("free", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, _ := srv.grantClient(context.Background(), rm, "someone", "", "")
			srv.releaseClient(rm, c)
		}
	})
	resume := srv.resumeFor("someone")
	b.Run("resume", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, _ := srv.grantClient(context.Background(), rm, "someone", resume, "")
			srv.releaseClient(rm, c)
		}
	})
}
