package natsbroker

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// TestEnvelopeVersion2: an envelope for one connection, or a game input,
// crosses as version 2 with its ToConn; anything else stays version 1, so
// that nodes from before read it.
func TestEnvelopeVersion2(t *testing.T) {
	tests := []struct {
		name    string
		env     *relay.Envelope
		version byte
	}{
		{"chat", &relay.Envelope{ID: "a-1", Kind: relay.KindChat, Event: []byte(`{}`)}, codecVersion},
		{"private game event", &relay.Envelope{ID: "a-2", Kind: relay.KindGame, PrivateFor: "x", Private: []byte(`{"word":"w"}`), Event: []byte(`{}`)}, codecVersion},
		{"game event for one connection", &relay.Envelope{ID: "a-3", Kind: relay.KindGame, ToConn: "b-7", Event: []byte(`{"type":"game"}`)}, codecVersion2},
		{"game input", &relay.Envelope{ID: "a-4", Kind: relay.KindGameInput, Event: []byte(`{"op":"alive"}`)}, codecVersion2},
		{"frame for one connection", &relay.Envelope{ID: "a-5", Kind: relay.KindFrame, ToConn: "c-1", Event: []byte(`{}`), Image: []byte("img")}, codecVersion2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := encodeEnvelope(tt.env)
			if data[0] != tt.version {
				t.Errorf("got version %d, want %d", data[0], tt.version)
			}
			got, err := decodeEnvelope("r", data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.Kind != tt.env.Kind || got.ToConn != tt.env.ToConn || string(got.Event) != string(tt.env.Event) ||
				string(got.Image) != string(tt.env.Image) || got.PrivateFor != tt.env.PrivateFor {
				t.Errorf("got %+v, want %+v", got, tt.env)
			}
		})
	}
}

// TestGameClaims: one claim per room, compare-and-set renewals and
// releases, expiry within the claim TTL, and a bucket that NATS lost is
// made again.
func TestGameClaims(t *testing.T) {
	ns := startNATS(t, 0)
	mod := func(c *Config) { c.PresenceTTL = 1200 * time.Millisecond }
	a, b := startNode(t, ns, "a", mod), startNode(t, ns, "b", mod)
	ca, cb := a.b.GameClaims(), b.b.GameClaims()
	ctx := context.Background()
	if got, want := ca.TTL(), time.Second; got != want {
		t.Fatalf("claim TTL: got %s, want %s (5/6 of the presence TTL)", got, want)
	}
	holder := func(room, want string) {
		t.Helper()
		got, err := cb.Holder(ctx, room)
		if err != nil || got != want {
			t.Fatalf("holder of %s: got %q, %v; want %q", room, got, err, want)
		}
	}
	must := func(what string, ok bool, err error, want bool) {
		t.Helper()
		if err != nil || ok != want {
			t.Fatalf("%s: got ok %v, err %v; want ok %v", what, ok, err, want)
		}
	}
	const room = "team.a" // a dot: escaped in the key
	holder(room, "")
	rev, ok, err := ca.Claim(ctx, room)
	must("a claims", ok, err, true)
	holder(room, "a")
	_, ok, err = cb.Claim(ctx, room)
	must("b claims a held room", ok, err, false)
	_, ok, err = cb.Renew(ctx, room, rev+100)
	must("b renews at a wrong revision", ok, err, false)
	next, ok, err := ca.Renew(ctx, room, rev)
	must("a renews", ok, err, true)
	_, ok, err = ca.Renew(ctx, room, rev)
	must("a renews at the old revision", ok, err, false)
	if err := ca.Release(ctx, room, rev); err != nil {
		t.Fatalf("release at an old revision: got %v, want nil (nothing to do)", err)
	}
	holder(room, "a")
	if err := ca.Release(ctx, room, next); err != nil {
		t.Fatalf("release: %v", err)
	}
	holder(room, "")

	// A handover: b renews a's claim at its revision and holds it.
	rev, ok, err = ca.Claim(ctx, room)
	must("a claims again", ok, err, true)
	rev, ok, err = cb.Renew(ctx, room, rev)
	must("b takes a's claim over", ok, err, true)
	holder(room, "b")

	// Expiry: a claim not renewed is gone within its TTL.
	expires := time.Now().Add(cb.TTL())
	waitFor(t, cb.TTL()+time.Second, "the claim expires", func() bool {
		h, err := ca.Holder(ctx, room)
		return err == nil && h == ""
	})
	if early := time.Until(expires); early > 100*time.Millisecond {
		t.Errorf("the claim went %s before its TTL", early)
	}
	_, ok, err = ca.Renew(ctx, room, rev)
	must("b's expired claim renewed by a", ok, err, false)
	_, ok, err = ca.Claim(ctx, room)
	must("a claims the expired room", ok, err, true)

	// NATS restarts and loses the memory-stored bucket: the next claim makes it again.
	ns.stop()
	ns.start()
	waitFor(t, 10*time.Second, "reconnected", func() bool { return a.b.Healthy() == nil })
	// The connection comes back before JetStream serves again (the server
	// recovers its file-stored streams first); once it answers on a's
	// connection, a's next claim must make the bucket again.
	waitFor(t, 10*time.Second, "JetStream answers again", func() bool {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := a.b.JetStream().AccountInfo(actx)
		return err == nil
	})
	rev, ok, err = ca.Claim(ctx, "after")
	must("claim after a NATS restart", ok, err, true)
	if err := ca.Release(ctx, "after", rev); err != nil {
		t.Fatalf("release after a NATS restart: %v", err)
	}

	// A closed broker refuses.
	b.stop()
	if _, _, err := cb.Claim(ctx, "x"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("claim on a closed broker: got %v, want broker closed", err)
	}
}

// TestRemoteMembers: the members a room has on other nodes, node by node,
// each node's in join order.
func TestRemoteMembers(t *testing.T) {
	ns := startNATS(t, 0)
	a, b, c := startNode(t, ns, "a"), startNode(t, ns, "b"), startNode(t, ns, "c")
	var want []string
	const n = 38 // enough for base-36 connection ids (b-…) to grow a digit: longer ids are younger
	for i := range n {
		id := "m" + strconv.Itoa(i)
		dial(t, b, "m", id)
		want = append(want, id)
	}
	dial(t, c, "m", "c1")
	want = append(want, "c1")
	dial(t, a, "m", "local")
	waitFor(t, 10*time.Second, "a counts them all", func() bool { return a.count("m") == n+2 })
	var got []string
	for _, m := range a.b.RemoteMembers("m") {
		got = append(got, m.Client)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got remote members %v, want %v", got, want)
	}
	if n := len(a.b.RemoteMembers("nowhere")); n != 0 {
		t.Errorf("got %d members of an empty room, want 0", n)
	}
}
