package relay_test

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/game"
)

// gameRelay is a relay whose rooms host games with one word, long turns,
// and a leave grace long enough for a reload.
func gameRelay(t *testing.T) string {
	t.Helper()
	g := game.Factory(game.Config{Words: []string{"giraffe"}, Pause: 50 * time.Millisecond, LeaveGrace: 10 * time.Second})
	_, base := startRelay(t, relay.Config{Game: g, ChatRate: -1, FrameRate: -1, ByteRate: -1})
	return base
}

// The attack of issue 14: anyone reads "drawer":"alice" from the public
// turn event, opens /ws/ROOM?client=alice and is told the word; it also
// draws as alice, stops the game alice started, and reads the guessers'
// private chat. Each spoof must get a fresh id instead, and nothing of
// what the id holds.
func TestSpoofedClientGetsNothingOfAGame(t *testing.T) {
	base := gameRelay(t)
	const room = "g"
	alice := connect(t, base, room, as("alice", "alice", ""))
	bob := connect(t, base, room, as("bob", "bob", ""))
	carol := connect(t, base, room, as("carol", "carol", ""))
	for _, c := range []*idClient{alice, bob, carol} {
		if c.client() != c.label {
			t.Fatalf("%s: hello.client %q, want the free id asked for", c.label, c.client())
		}
	}
	byID := map[string]*idClient{"alice": alice, "bob": bob, "carol": carol}

	alice.send(`{"type":"game","action":"start","seconds":180}`)
	turn := alice.untilGame("turn")
	drawerID := turn.str("drawer")
	drawer := byID[drawerID]
	if drawer == nil {
		t.Fatalf("turn names drawer %q, want one of the players", drawerID)
	}
	if drawer != alice {
		if w := drawer.untilGame("turn").str("word"); w != "giraffe" {
			t.Fatalf("the drawer's turn: word %q, want giraffe", w)
		}
	} else if w := turn.str("word"); w != "giraffe" {
		t.Fatalf("the drawer's turn: word %q, want giraffe", w)
	}
	// A guesser who is neither the drawer nor the starter guesses, so that
	// its chat becomes private to the drawer and those who guessed.
	guesser := bob
	if drawer == bob {
		guesser = carol
	}
	guesser.chat("giraffe")
	drawer.untilGame("guessed")

	// Attackers, each naming one of the ids in play.
	spoofDrawer := connect(t, base, room, as("mallory", drawerID, ""))
	spoofStarter := connect(t, base, room, as("mallory2", "alice", ""))
	spoofGuesser := connect(t, base, room, as("mallory3", guesser.label, ""))
	for _, s := range []struct {
		c    *idClient
		want string
	}{{spoofDrawer, drawerID}, {spoofStarter, "alice"}, {spoofGuesser, guesser.label}} {
		if got := s.c.client(); got == s.want {
			t.Errorf("%s asked for %q, held by another connection, and got it", s.c.label, s.want)
		}
		if r := s.c.resume(); r == "" || len(r) > relay.ResumeMaxLen {
			t.Errorf("%s: hello.resume %q: want 1 to %d characters", s.c.label, r, relay.ResumeMaxLen)
		}
	}

	// No drawing rights: the spoofed drawer's frame is refused.
	if w, ok := spoofDrawer.untilGame("turn").ev["word"]; ok {
		t.Errorf("the spoofed drawer was told the word %v", w)
	}
	spoofDrawer.sendBinary(solidPNG(t, 255, 0, 0))
	if e := spoofDrawer.until("an answer to its frame", func(m idMsg) bool {
		return m.typ() == "ack" || m.typ() == "error"
	}); e.typ() != "error" || e.str("code") != "forbidden" || e.ev["seq"] != float64(1) {
		t.Errorf("spoofed drawer's frame: got %s, want error forbidden for seq 1", e)
	}
	// No stop: the spoofed starter is refused.
	spoofStarter.send(`{"type":"game","action":"stop"}`)
	if e := spoofStarter.until("an answer to stop", func(m idMsg) bool {
		return m.typ() == "error" || m.typ() == "game" && m.event() == "over"
	}); e.typ() != "error" || e.str("code") != "forbidden" {
		t.Fatalf("spoofed starter's stop: got %s, want error forbidden", e)
	}
	// No private chat: the guesser's line reaches the drawer, not the spoof.
	guesser.chat("private line 7f3a")
	drawer.until("the guesser's private chat", func(m idMsg) bool {
		return m.typ() == "chat" && m.str("text") == "private line 7f3a"
	})
	drawer.chat("public marker") // after the private line, on every queue
	for _, s := range []*idClient{spoofDrawer, spoofStarter, spoofGuesser} {
		s.until("the marker", func(m idMsg) bool { return m.typ() == "chat" && m.str("text") == "public marker" })
	}

	// The drawer reloads: while it has no connection, its seat still
	// holds the id.
	drawerResume := drawer.resume()
	drawer.close()
	alice2 := alice
	if drawer == alice {
		alice2 = bob
	}
	alice2.until("the drawer's leave", func(m idMsg) bool {
		return m.typ() == "presence" && m.str("event") == "leave" && m.str("client") == drawerID
	})
	spoofReload := connect(t, base, room, as("mallory4", drawerID, "not-the-resume"))
	if spoofReload.client() == drawerID {
		t.Errorf("a spoof with a wrong resume got the drawer's id %q while the drawer reloaded", drawerID)
	}
	// The drawer comes back with its resume: same id, and the word again.
	back := connect(t, base, room, as(drawerID, drawerID, drawerResume))
	if back.client() != drawerID {
		t.Fatalf("drawer's reload with its resume: hello.client %q, want %q", back.client(), drawerID)
	}
	if back.resume() != drawerResume {
		t.Errorf("resume changed across a reload: %q then %q", drawerResume, back.resume())
	}
	if w := back.untilGame("turn").str("word"); w != "giraffe" {
		t.Errorf("drawer's reload: turn word %q, want giraffe", w)
	}
	spoofReload.chat("late marker")
	back.until("the late marker", func(m idMsg) bool { return m.typ() == "chat" && m.str("text") == "late marker" })

	for _, s := range []*idClient{spoofDrawer, spoofStarter, spoofGuesser, spoofReload} {
		raw := s.rawBytes()
		if bytes.Contains(raw, []byte("giraffe")) {
			t.Errorf("%s (asked for a player's id) read the word", s.label)
		}
		if bytes.Contains(raw, []byte("private line 7f3a")) {
			t.Errorf("%s (asked for a player's id) read a guesser's private chat", s.label)
		}
	}
}

// A layer belongs to its client id: a spoof cannot replace it, while its
// owner is connected or after it left; the owner gets it back with its
// resume.
func TestSpoofedClientCannotReplaceALayer(t *testing.T) {
	_, base := startRelay(t, relay.Config{})
	const room = "wb"
	red, blue, green := solidPNG(t, 255, 0, 0), solidPNG(t, 0, 0, 255), solidPNG(t, 0, 255, 0)

	alice := connect(t, base, room, as("alice", "alice", ""))
	alice.sendBinary(red)
	alice.expect("ack")
	resume := alice.resume()

	// While alice is connected.
	m1 := connect(t, base, room, as("mallory", "alice", ""))
	if m1.client() == "alice" {
		t.Fatalf("spoof got alice's id while alice is connected")
	}
	m1.sendBinary(blue)
	m1.until("ack", func(m idMsg) bool { return m.typ() == "ack" })

	// After alice left: her layer still holds the id.
	alice.close()
	m2 := connect(t, base, room, as("mallory2", "alice", ""))
	if m2.client() == "alice" {
		t.Fatalf("spoof got alice's id after she left, while her layer is kept")
	}
	m2.sendBinary(green)
	m2.until("ack", func(m idMsg) bool { return m.typ() == "ack" })

	viewer := connect(t, base, room, url.Values{"name": {"viewer"}})
	layers := layersOf(viewer, 3)
	if !bytes.Equal(layers["alice"], red) {
		t.Errorf("alice's layer: got %d bytes (red %d, blue %d, green %d), want her own red frame",
			len(layers["alice"]), len(red), len(blue), len(green))
	}
	if !bytes.Equal(layers[m1.client()], blue) || !bytes.Equal(layers[m2.client()], green) {
		t.Errorf("the spoofs' frames are not their own layers under their fresh ids")
	}

	// Alice reloads with her resume: her id, and her layer.
	back := connect(t, base, room, as("alice", "alice", resume))
	if back.client() != "alice" {
		t.Fatalf("alice's reload with resume: hello.client %q, want alice", back.client())
	}
	if got := layersOf(back, 3); !bytes.Equal(got["alice"], red) {
		t.Errorf("alice's reload: her layer is %d bytes, want her red frame", len(got["alice"]))
	}
}

// The grant rule itself: a free id as asked, a held one with its resume,
// a wrong or foreign resume gives a fresh id, and resume is stable.
func TestClientGrantRule(t *testing.T) {
	_, base := startRelay(t, relay.Config{})
	a := connect(t, base, "r", as("a", "ann", ""))
	if a.client() != "ann" {
		t.Fatalf("free id: got %q, want ann", a.client())
	}
	// Another connection of ann, proven: granted (a second tab).
	a2 := connect(t, base, "r", as("a2", "ann", a.resume()))
	if a2.client() != "ann" || a2.resume() != a.resume() {
		t.Errorf("second connection with resume: got %q/%q, want ann/%q", a2.client(), a2.resume(), a.resume())
	}
	// A resume of another id proves nothing.
	b := connect(t, base, "r", as("b", "bob", ""))
	spoof := connect(t, base, "r", as("s", "ann", b.resume()))
	if spoof.client() == "ann" {
		t.Errorf("bob's resume took ann's id")
	}
	// Too long a resume is not an error, just no proof.
	long := connect(t, base, "r", as("l", "ann", string(bytes.Repeat([]byte("A"), 200))))
	if long.client() == "ann" {
		t.Errorf("a 200-character resume took ann's id")
	}
	// No client asked: a fresh one, with its own resume.
	fresh := connect(t, base, "r", url.Values{})
	if fresh.client() == "" || fresh.resume() == "" || fresh.resume() == a.resume() {
		t.Errorf("fresh id %q with resume %q", fresh.client(), fresh.resume())
	}
}

// With --auth-secret, the identity key comes from the secret: two nodes
// with the same secret (and no shared broker) give the same resume, and a
// token's subject fixes the client id.
func TestResumeFromAuthSecret(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	_, base1 := startRelay(t, relay.Config{AuthSecret: secret})
	_, base2 := startRelay(t, relay.Config{AuthSecret: secret})
	tok, err := relay.MintToken(secret, relay.Claims{Room: "r", Publish: true, Subscribe: true, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	q := as("a", "ann", "")
	q.Set("token", tok)
	a := connect(t, base1, "r", q)
	q2 := as("a", "ann", a.resume())
	q2.Set("token", tok)
	b := connect(t, base2, "r", q2)
	if a.client() != "ann" || b.client() != "ann" || a.resume() != b.resume() {
		t.Errorf("same secret, two nodes: got %q/%q and %q/%q, want ann with one resume", a.client(), a.resume(), b.client(), b.resume())
	}
	// A token with a subject binds the id: granted even while it is held.
	subTok, err := relay.MintToken(secret, relay.Claims{Room: "r", Publish: true, Subscribe: true, Subject: "ann", Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	c := connect(t, base1, "r", url.Values{"token": {subTok}})
	if c.client() != "ann" {
		t.Errorf("token with sub ann: hello.client %q, want ann", c.client())
	}
	// Without the subject, the held id is not granted.
	q3 := as("m", "ann", "")
	q3.Set("token", tok)
	if m := connect(t, base1, "r", q3); m.client() == "ann" {
		t.Errorf("a token without sub took the held id ann")
	}
}
