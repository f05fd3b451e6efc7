package game

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// seatSecret signs the room tokens of the seat tests.
var seatSecret = []byte("a secret of at least 32 bytes for game seat tests")

// roomToken mints a token for room with the given rights.
func roomToken(t *testing.T, room string, publish, subscribe bool) string {
	t.Helper()
	tok, err := relay.MintToken(seatSecret, relay.Claims{Room: room, Publish: publish, Subscribe: subscribe, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatalf("mint token: %v", err)
	}
	return tok
}

// collect reads what clients get until done says enough or wait passes,
// calling see for each message that is not presence. It never blocks on
// one client while another has something.
func collect(t *testing.T, clients []*client, see func(c *client, m msg), done func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !done() {
		got := false
		for _, c := range clients {
			select {
			case m := <-c.msgs:
				got = true
				if m.typ() != "presence" {
					see(c, m)
				}
			default:
			}
		}
		if got {
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting after %s", wait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func playersOf(t *testing.T, m msg) []string {
	t.Helper()
	list, _ := m.ev["players"].([]any)
	var out []string
	for _, x := range list {
		e, _ := x.(map[string]any)
		out = append(out, str(e, "client"))
	}
	return out
}

// TestSeatsOnlyForPlayers: only connections that may both publish and
// subscribe play. A viewer (subscribe-only token) and an upload
// (publish-only token) are not listed in start, never draw, cannot start
// or stop a game, cannot guess; and a viewer or upload connection under
// the drawer's own client id is never told the word, cannot draw, and
// never hears the guessers' private chat.
func TestSeatsOnlyForPlayers(t *testing.T) {
	const room = "seats"
	cfg := testConfig("giraffe", "volcano", "palm tree", "kite", "drum")
	cfg.Intn = firstWord
	cfg.Second = 50 * time.Millisecond // 180 game seconds: 9 s turns
	f := startRelayWith(t, cfg, relay.Config{AuthSecret: seatSecret})
	full := roomToken(t, room, true, true)
	viewer := roomToken(t, room, false, true)
	upload := roomToken(t, room, true, false)

	a := f.dial(room, "client=alice&name=Alice&token="+full)
	aliceHello := a.expect("hello")
	b := f.joinWith(room, "bob", "Bob", "token="+full)
	c := f.joinWith(room, "carol", "Carol", "token="+full)
	v := f.joinWith(room, "vic", "Vic", "token="+viewer)
	u := f.joinWith(room, "uma", "Uma", "token="+upload)
	av := f.joinWith(room, "alice", "AliceViewer", "token="+viewer+sameClient(aliceHello)) // a viewer under the drawer's id

	a.start(`,"seconds":180`)
	for _, x := range []*client{a, b, c, v, av} {
		m := x.expectGame("start")
		if got := strings.Join(playersOf(t, m), ","); got != "alice,bob,carol" {
			t.Errorf("%s: start lists players %s, want alice,bob,carol (no viewer, no upload)", x.name, got)
		}
	}
	for _, x := range []*client{a, b, c, v, av} {
		m := x.expectGame("turn")
		if num(m.ev, "turns") != 3 {
			t.Errorf("%s: turn says %d turns, want 3: only the three players draw", x.name, num(m.ev, "turns"))
		}
		_, has := m.ev["word"]
		if x == a && !has {
			t.Errorf("Alice draws but got no word: %s", m)
		}
		if x != a && has {
			t.Errorf("%s got the word: %s", x.name, m)
		}
	}

	// An upload under Alice's id joins during her turn: it is told nothing
	// and may not draw (its frame is refused, which also shows that
	// anything queued for it at its join has been read).
	au := f.joinWith(room, "alice", "AliceUpload", "token="+upload+sameClient(aliceHello))
	au.sendBinary(tinyPNG(t))
	if m := au.expectNext("error", ""); str(m.ev, "code") != relay.CodeForbidden {
		t.Errorf("an upload under the drawer's id drew: got %s, want error forbidden", m)
	}
	// An upload's guess does not score: it is refused.
	u.chat("giraffe")
	if m := u.expectNext("error", ""); str(m.ev, "code") != relay.CodeForbidden {
		t.Errorf("an upload guessed: got %s, want error forbidden", m)
	}

	// Bob guesses, then speaks to those who know: Alice's player connection
	// hears him, her viewer connection and Vic do not.
	b.chat("giraffe")
	for _, x := range []*client{a, b, c, v, av} {
		if m := x.expectGame("guessed"); str(m.ev, "client") != "bob" {
			t.Errorf("%s: got %s, want bob guessed", x.name, m)
		}
	}
	b.chat("easy one")
	if m := a.expectNext("chat", ""); str(m.ev, "text") != "easy one" {
		t.Errorf("Alice: got %s, want Bob's line", m)
	}
	c.chat("giraffe")
	for _, x := range []*client{v, av} {
		for {
			m := x.next(wait)
			if m.typ() == "chat" {
				t.Errorf("%s (a viewer) heard the guessers' chat: %s", x.name, m)
			}
			if m.typ() == "game" && m.event() == "reveal" {
				break
			}
		}
	}
	for _, x := range []*client{au, u} {
		if raw := x.rawBytes(); bytes.Contains(raw, []byte("giraffe")) {
			t.Errorf("%s (an upload) read the word from its socket", x.name)
		}
	}
	if raw := av.rawBytes(); bytes.Contains(raw[:max(bytes.Index(raw, []byte(`"reveal"`)), 0)], []byte("giraffe")) {
		t.Errorf("Alice's viewer connection read the word before the reveal")
	}

	// Neither a viewer nor an upload may stop (or start) a game.
	v.send(`{"type":"game","action":"stop"}`)
	for { // a viewer may send no command at all; the next turn may come first
		m := v.next(wait)
		if m.typ() == "error" {
			if str(m.ev, "code") != relay.CodeForbidden {
				t.Errorf("Vic: got %s, want error forbidden", m)
			}
			break
		}
	}
	u.send(`{"type":"game","action":"stop"}`)
	if m := u.expectNext("error", ""); str(m.ev, "code") != relay.CodeForbidden {
		t.Errorf("an upload stopped the game: got %s, want error forbidden", m)
	}
	a.send(`{"type":"game","action":"stop"}`)
	for {
		if m := a.next(wait); m.typ() == "game" && m.event() == "over" {
			break
		}
	}
	f.waitIdle()
	u.start("")
	if m := u.expectNext("error", ""); str(m.ev, "code") != relay.CodeForbidden {
		t.Errorf("an upload started a game: got %s, want error forbidden", m)
	}
}

// TestSevenSocketsOneBudget: one player who opens seven sockets still has
// one guess budget. Seven wrong guesses at once, one per socket, get the
// burst of one player relayed; the rest get rate_limited.
func TestSevenSocketsOneBudget(t *testing.T) {
	const room = "budget"
	cfg := testConfig("giraffe", "volcano")
	cfg.Intn = firstWord
	// One player's burst, and a rate too slow to refill within the test
	// however loaded the machine.
	const burst = DefaultGuessBurst
	cfg.GuessRate, cfg.GuessBurst = 1.0/60, burst
	cfg.Second = 100 * time.Millisecond // 180 game seconds: 18 s turns
	f := startRelay(t, cfg)
	a := f.join(room, "alice", "Alice")
	b := f.join(room, "bob", "Bob")
	ms := f.sockets(room, "mallory", 7)
	a.start(`,"seconds":180`)
	for _, x := range append([]*client{a, b}, ms...) {
		x.expectGame("start")
		x.expectGame("turn")
	}
	for i, m := range ms {
		m.chat(fmt.Sprintf("horse %d", i))
	}
	relayed, limited := 0, 0
	see := func(c *client, m msg) {
		switch {
		case c == b && m.typ() == "chat" && str(m.ev, "client") == "mallory":
			relayed++
		case c != b && m.typ() == "error" && str(m.ev, "code") == relay.CodeRateLimited:
			limited++
		case c == b || m.typ() == "error":
			t.Errorf("%s: unexpected %s", c.name, m)
		}
	}
	collect(t, append([]*client{b}, ms...), see, func() bool { return relayed+limited >= len(ms) })
	if relayed != burst || limited != len(ms)-burst {
		t.Errorf("seven sockets of one player: %d guesses relayed and %d rate_limited, want %d and %d", relayed, limited, burst, len(ms)-burst)
	}
	a.send(`{"type":"game","action":"stop"}`)
	f.waitIdle()
}

// joinWith is join with more query parameters (a token).
func (f *fixture) joinWith(room, id, name, query string) *client {
	f.t.Helper()
	c := f.dial(room, "client="+id+"&name="+name+"&"+query)
	if m := c.expect("hello"); str(m.ev, "client") != id {
		f.t.Fatalf("%s: hello gives client %q, want %q", name, str(m.ev, "client"), id)
	}
	return c
}

// sameClient is the query that proves a second connection is the same
// client as the one whose hello is given: its resume, once the relay
// gives one (the contract's v1.1 identity), and nothing before.
func sameClient(hello msg) string {
	if r := str(hello.ev, "resume"); r != "" {
		return "&resume=" + url.QueryEscape(r)
	}
	return ""
}

// sockets opens n connections of one client id to room (named Mallory0,
// Mallory1, …): the later ones prove they are the first one's client.
func (f *fixture) sockets(room, id string, n int) []*client {
	f.t.Helper()
	first := f.dial(room, "client="+id+"&name=Mallory0")
	hello := first.expect("hello")
	out := []*client{first}
	for i := 1; i < n; i++ {
		out = append(out, f.joinWith(room, id, fmt.Sprintf("Mallory%d", i), "x=1"+sameClient(hello)))
	}
	return out
}

// bruteForce plays one turn whose word is the last of the candidates its
// hint leaves in the built-in list (62 for a word of 5 letters), while
// Mallory, over seven sockets of one client id, sends every candidate at
// once. It returns how many of Mallory's lines were relayed as wrong
// guesses, how many got rate_limited, and whether Mallory guessed the word.
func bruteForce(t *testing.T, tweak func(*Config)) (relayed, limited int, found bool, candidates []string) {
	t.Helper()
	const room = "brute"
	words := DefaultWords()
	groups := map[string][]string{}
	for _, w := range words {
		h, _ := hint(w)
		groups[h] = append(groups[h], w)
	}
	var target string
	for _, g := range groups {
		if len(g) > len(candidates) {
			candidates = g
		}
	}
	target = candidates[len(candidates)-1]
	idx := 0
	for i, w := range words {
		if w == target {
			idx = i
		}
	}
	cfg := testConfig(words...)
	cfg.Intn = func(n int) int { return min(idx, n-1) }
	cfg.Second = 100 * time.Millisecond // 180 game seconds: 18 s turns
	if tweak != nil {
		tweak(&cfg)
	}
	f := startRelayWith(t, cfg, relay.Config{ChatRate: 1000}) // the game's limit, not the socket's
	a := f.join(room, "alice", "Alice")
	b := f.join(room, "bob", "Bob")
	ms := f.sockets(room, "mallory", 7)
	a.start(`,"seconds":180`)
	for _, x := range append([]*client{a, b}, ms...) {
		x.expectGame("start")
		if m := x.expectGame("turn"); x == a && str(m.ev, "word") != target {
			t.Fatalf("Alice draws %q, want %q", str(m.ev, "word"), target)
		}
	}
	for i, w := range candidates {
		ms[i%len(ms)].chat(w)
	}
	see := func(c *client, m msg) {
		switch {
		case c == b && m.typ() == "chat" && str(m.ev, "client") == "mallory":
			relayed++
		case c == b && m.typ() == "game" && m.event() == "guessed" && str(m.ev, "client") == "mallory":
			found = true
		case c != b && m.typ() == "error" && str(m.ev, "code") == relay.CodeRateLimited:
			limited++
		}
	}
	collect(t, append([]*client{b}, ms...), see, func() bool { return found || relayed+limited >= len(candidates) })
	a.send(`{"type":"game","action":"stop"}`)
	f.waitIdle()
	return relayed, limited, found, candidates
}

// TestBruteForceWithDefaults: with the default limits, a brute force
// through every candidate of the hint, from one client over seven
// sockets, does not find the word.
func TestBruteForceWithDefaults(t *testing.T) {
	relayed, limited, found, candidates := bruteForce(t, nil)
	if found {
		t.Fatalf("a brute force through the %d candidates found the word", len(candidates))
	}
	// The burst of 3 at once, and one more a second: however slow the
	// machine, never more than the turn's budget.
	if relayed > DefaultGuesses || relayed+limited != len(candidates) {
		t.Errorf("%d candidates: %d relayed, %d rate_limited; want at most %d relayed and the rest refused", len(candidates), relayed, limited, DefaultGuesses)
	}
}
