package natsbroker

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/game"
)

// TestGameSeatsAcrossNodes: the referee seats only the connections that may
// publish and subscribe, on whichever node they are (presence carries the
// rights). Vic (a viewer) and Uma (an upload) sit on node a, the game is
// refereed on node b: neither is listed or ever draws, and a viewer
// connection under the drawer's id on node a is never told the word.
func TestGameSeatsAcrossNodes(t *testing.T) {
	secret := []byte("a secret of at least 32 bytes for cross-node seats")
	tok := func(pub, sub bool) string {
		s, err := relay.MintToken(secret, relay.Claims{Room: "seats", Publish: pub, Subscribe: sub, Expires: time.Now().Add(time.Hour).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return "&token=" + s
	}
	withAuth := func(c *relay.Config) { c.AuthSecret = secret }
	ns := startNATS(t, 0)
	gcfg := gameConfig(100*time.Millisecond, "giraffe", "volcano")
	a, b := startGameNodeWith(t, ns, "a", gcfg, withAuth), startGameNodeWith(t, ns, "b", gcfg, withAuth)
	alice := joinWith(t, b, "seats", "alice", "Alice", tok(true, true))
	bob := joinWith(t, a, "seats", "bob", "Bob", tok(true, true))
	vic := joinWith(t, a, "seats", "vic", "Vic", tok(false, true))
	uma := joinWith(t, a, "seats", "uma", "Uma", tok(true, false))
	same := "" // Alice's resume, once the relay gives one (v1.1 identity)
	if r := str(alice.hello, "resume"); r != "" {
		same = "&resume=" + url.QueryEscape(r)
	}
	av := joinWith(t, a, "seats", "alice", "AliceViewer", tok(false, true)+same)
	if got := str(av.hello, "client"); got != "alice" {
		t.Fatalf("Alice's viewer connection is client %q, want alice", got)
	}
	waitCount(t, "seats", 5, a, b)
	alice.send(`{"type":"game","action":"start","seconds":180}`)
	for _, x := range []*player{alice, bob, vic, av} {
		order, _ := clientsOf(t, x.expectGame("start"), "players")
		if got := strings.Join(order, ","); got != "alice,bob" {
			t.Errorf("%s: start lists %s, want alice,bob (no viewer, no upload)", x.name, got)
		}
		m := x.expectGame("turn")
		if _, has := m.ev["word"]; has != (x == alice) || num(m.ev, "turns") != 2 {
			t.Errorf("%s: got %s, want turn 1 of 2 with a word for Alice only", x.name, describe(m))
		}
	}
	// Uma's guess crosses to the referee, which refuses it; the refusal
	// reaches her on her node although she subscribes to nothing.
	uma.chat("giraffe")
	uma.expectNext("error", "forbidden")
	bob.chat("giraffe")
	for _, x := range []*player{alice, bob, vic, av} {
		x.expectGame("guessed")
		x.expectGame("reveal")
	}
	raw := av.rawBytes()
	if i := bytes.Index(raw, []byte(`"reveal"`)); i < 0 || bytes.Contains(raw[:i], []byte("giraffe")) {
		t.Errorf("Alice's viewer connection on the other node read the word before the reveal")
	}
	alice.send(`{"type":"game","action":"stop"}`)
	for {
		if m := alice.nextSkipping(); m.typ == "game" && str(m.ev, "event") == "over" {
			break
		}
	}
}

// TestGameGuessBudgetAcrossNodes: a player's guess budget is one, kept by
// the refereeing node, however many sockets it opens on however many
// nodes. Mallory opens four sockets on node a and three on node b, the
// referee; seven wrong guesses at once, one a socket, get one player's
// burst relayed, and the rest rate_limited.
func TestGameGuessBudgetAcrossNodes(t *testing.T) {
	const burst = game.DefaultGuessBurst
	ns := startNATS(t, 0)
	gcfg := gameConfig(100*time.Millisecond, "giraffe", "volcano") // 180 game seconds: 18 s turns
	gcfg.GuessRate = 1.0 / 60                                      // no refill within the test, however loaded the machine
	a, b := startGameNode(t, ns, "a", gcfg), startGameNode(t, ns, "b", gcfg)
	alice := join(t, b, "budget", "alice", "Alice")
	bob := join(t, a, "budget", "bob", "Bob")
	ms := []*player{join(t, a, "budget", "mallory", "Mallory0")}
	same := "" // the first socket's resume, once the relay gives one (v1.1 identity)
	if r := str(ms[0].hello, "resume"); r != "" {
		same = "&resume=" + url.QueryEscape(r)
	}
	for i := 1; i < 7; i++ {
		n := a
		if i >= 4 {
			n = b
		}
		m := joinWith(t, n, "budget", "mallory", fmt.Sprintf("Mallory%d", i), same)
		if got := str(m.hello, "client"); got != "mallory" {
			t.Fatalf("socket %d of Mallory is client %q, want mallory", i, got)
		}
		ms = append(ms, m)
	}
	waitCount(t, "budget", 9, a, b)
	alice.send(`{"type":"game","action":"start","seconds":180}`)
	for _, x := range append([]*player{alice, bob}, ms...) {
		x.expectGame("start")
		x.expectGame("turn")
	}
	for i, m := range ms {
		m.chat(fmt.Sprintf("horse %d", i))
	}
	relayed, limited := 0, 0
	deadline := time.Now().Add(gameWait)
	for relayed+limited < len(ms) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d relayed and %d rate_limited of %d guesses", gameWait, relayed, limited, len(ms))
		}
		got := false
		for _, x := range append([]*player{bob}, ms...) {
			select {
			case m := <-x.msgs:
				got = true
				switch {
				case x == bob && m.typ == "chat" && str(m.ev, "client") == "mallory":
					relayed++
				case x != bob && m.typ == "error" && str(m.ev, "code") == "rate_limited":
					limited++
				case m.typ == "error":
					t.Errorf("%s: unexpected %s", x.name, describe(m))
				}
			default:
			}
		}
		if !got {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if relayed != burst || limited != len(ms)-burst {
		t.Errorf("seven sockets of one player on two nodes: %d guesses relayed and %d rate_limited, want %d and %d", relayed, limited, burst, len(ms)-burst)
	}
	alice.send(`{"type":"game","action":"stop"}`)
	for {
		if m := alice.nextSkipping(); m.typ == "game" && str(m.ev, "event") == "over" {
			break
		}
	}
}
