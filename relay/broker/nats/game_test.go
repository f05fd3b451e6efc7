package natsbroker

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/game"
	"github.com/lxzan/gws"
)

// TestGameAcrossNodes plays a whole game in a room whose members sit on
// two relay nodes sharing one NATS server. It is started on node b, which
// then referees; on node a sit Alice and a second connection of Bob. It
// checks, node by node: the word reaches only the drawer's connections
// (the raw bytes of everyone else hold no word before its reveal), guesses
// from the other node score, chat from those who guessed goes only to
// those who know, frames from non-drawers are refused on both nodes, the
// drawer's frames cross, and the game ends with the same over everywhere.
func TestGameAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	gcfg := gameConfig(10*time.Millisecond, "giraffe", "volcano", "palm tree")
	a, b := startGameNode(t, ns, "a", gcfg), startGameNode(t, ns, "b", gcfg)
	bob := join(t, b, "g", "bob", "Bob")
	carol := join(t, b, "g", "carol", "Carol")
	alice := join(t, a, "g", "alice", "Alice")
	bob2 := joinResume(t, a, "g", "bob", "Bob", str(bob.hello, "resume")) // Bob again, on the other node
	all := []*player{bob, carol, alice, bob2}
	waitCount(t, "g", 4, a, b)

	carol.send(`{"type":"game","action":"start","seconds":180}`) // 1.8 s turns
	for _, x := range all {
		m := x.expectGame("start")
		order, _ := clientsOf(t, m, "players")
		// The starting node's members in join order, then the other node's.
		if got, want := strings.Join(order, ","), "bob,carol,alice"; got != want || str(m.ev, "by") != "carol" {
			t.Fatalf("%s: got players %s by %q, want %s by carol", x.name, got, str(m.ev, "by"), want)
		}
	}
	words := []string{"giraffe", "volcano", "palm tree"}
	drawers := []string{"bob", "carol", "alice"}
	turn := func(k int) {
		t.Helper()
		for _, x := range all {
			m := x.expectGame("turn")
			w, has := m.ev["word"]
			switch {
			case x.id == drawers[k-1] && w != words[k-1]:
				t.Errorf("turn %d: %s draws but got word %v, want %q", k, x.name, w, words[k-1])
			case x.id != drawers[k-1] && has:
				t.Errorf("turn %d: %s does not draw but got a word field: %s", k, x.name, describe(m))
			}
			if num(m.ev, "turn") != k || num(m.ev, "turns") != 3 || str(m.ev, "drawer") != drawers[k-1] {
				t.Errorf("turn %d: %s got %s, want turn %d of 3 drawn by %s", k, x.name, describe(m), k, drawers[k-1])
			}
		}
	}
	forbidden := func(x *player, seq int) {
		t.Helper()
		x.sendImage(noisePNG(t, 200, uint64(seq)))
		if m := x.expectNext("error", "forbidden"); num(m.ev, "seq") != seq {
			t.Errorf("%s: got %s, want forbidden for seq %d", x.name, describe(m), seq)
		}
	}

	// Turn 1: Bob draws (on both nodes). Frames from non-drawers are
	// refused on a (not refereeing) and on b; Bob's from a cross to b.
	turn(1)
	forbidden(alice, 1)
	forbidden(carol, 1)
	img := noisePNG(t, 300, 9)
	bob2.sendImage(img)
	if m := bob2.expectNext("ack", ""); num(m.ev, "seq") != 1 {
		t.Errorf("bob@a: got %s, want ack 1", describe(m))
	}
	for _, x := range []*player{bob, carol, alice} {
		if m := x.expectNext("frame", ""); str(m.ev, "client") != "bob" {
			t.Errorf("%s: got %s, want Bob's frame", x.name, describe(m))
		}
		if m := x.next(gameWait); m.op != gws.OpcodeBinary || !bytes.Equal(m.data, img) {
			t.Errorf("%s: got %s, want Bob's image", x.name, describe(m))
		}
	}
	alice.chat("  GIRAFFE ") // a guess from node a, refereed on b
	var alicePoints int
	for _, x := range all {
		m := x.expectGame("guessed")
		alicePoints = num(m.ev, "points")
		if str(m.ev, "client") != "alice" || alicePoints < game.GuessBase {
			t.Errorf("%s: got %s, want alice guessed", x.name, describe(m))
		}
	}
	alice.chat("so easy") // she knows: only the drawer hears her now
	for _, x := range []*player{bob, bob2} {
		if m := x.expectNext("chat", ""); str(m.ev, "text") != "so easy" || str(m.ev, "client") != "alice" {
			t.Errorf("%s: got %s, want Alice's line", x.name, describe(m))
		}
	}
	carol.chat("horse") // a wrong guess is chat for everyone
	for _, x := range []*player{bob, alice, bob2} {
		if m := x.expectNext("chat", ""); str(m.ev, "text") != "horse" {
			t.Errorf("%s: got %s, want Carol's wrong guess", x.name, describe(m))
		}
	}
	carol.chat("giraffe") // everyone guessed: the turn ends early
	for _, x := range all {
		x.expectGame("guessed")
		if m := x.expectGame("reveal"); str(m.ev, "word") != "giraffe" {
			t.Errorf("%s: got %s, want the reveal of giraffe", x.name, describe(m))
		}
	}

	// Turn 2: Carol draws; Bob's frames are refused on both nodes; time
	// runs out.
	turn(2)
	forbidden(bob2, 2)
	forbidden(bob, 1)
	for _, x := range all {
		if m := x.expectGame("reveal"); str(m.ev, "word") != "volcano" {
			t.Errorf("%s: got %s, want the reveal of volcano", x.name, describe(m))
		}
	}

	// Turn 3: Alice draws on node a, whose node does not referee: the
	// word crosses to her only. Bob guesses on b, then Carol.
	turn(3)
	alice.chat("it is a palm tree") // the drawer may not give it away
	alice.expectNext("error", "forbidden")
	bob.chat("palm tree")
	carol.chat("Palm Tree")
	var over tmsg
	for _, x := range all {
		x.expectGame("guessed")
		x.expectGame("guessed")
		x.expectGame("reveal")
		m := x.expectGame("over")
		if over.data != nil && !bytes.Equal(m.data, over.data) {
			t.Errorf("%s: got %s, want the same over as everyone: %s", x.name, m.data, over.data)
		}
		over = m
	}
	order, scores := clientsOf(t, over, "scores")
	if scores["alice"] != alicePoints+game.DrawerPoints*2 || order[0] != str(over.ev, "winner") {
		t.Errorf("over: got %v (order %v, winner %q), want alice with %d and the first the winner", scores, order, str(over.ev, "winner"), alicePoints+2*game.DrawerPoints)
	}

	// The raw bytes: before the reveal of turn k, nobody but the drawer's
	// connections ever read word k; they did (the check can fail).
	for k, w := range words {
		for _, x := range all {
			raw := x.rawBytes()
			end := nthIndex(raw, []byte(`"event":"reveal"`), k+1)
			if end < 0 {
				t.Fatalf("%s: no reveal %d in its raw bytes", x.name, k+1)
			}
			leaked := bytes.Contains(bytes.ToLower(raw[:end]), []byte(w))
			if x.id == drawers[k] && !leaked {
				t.Errorf("%s drew %q but its raw bytes never held it: the check is broken", x.name, w)
			}
			if x.id != drawers[k] && leaked {
				t.Errorf("%s does not draw turn %d but read %q before its reveal", x.name, k+1, w)
			}
		}
	}

	// A new game starts at once from the other node: the claim was
	// released.
	alice.send(`{"type":"game","action":"start"}`)
	for _, x := range all {
		x.expectGame("start")
		x.expectGame("turn")
	}
	alice.send(`{"type":"game","action":"stop"}`)
	for _, x := range all {
		x.expectGame("reveal")
		x.expectGame("over")
	}
}

// nthIndex is the index of the n-th sep in s (from 1), or -1.
func nthIndex(s, sep []byte, n int) int {
	off := 0
	for i := 1; ; i++ {
		j := bytes.Index(s[off:], sep)
		if j < 0 {
			return -1
		}
		if i == n {
			return off + j
		}
		off += j + len(sep)
	}
}

// TestGameRefereeNodeDies: the node refereeing a game dies mid-turn (no
// goodbye, no handover: its claim stays until it expires). The members on
// the surviving node get over within the presence TTL, with the scores as
// they stood (a guess made before the death counts), and a new game can
// start there at once.
func TestGameRefereeNodeDies(t *testing.T) {
	ns := startNATS(t, 0)
	gcfg := gameConfig(100*time.Millisecond, "giraffe", "volcano") // 180 s turns last 18 s: longer than the test
	a, b := startGameNode(t, ns, "a", gcfg), startGameNode(t, ns, "b", gcfg)
	ttl := a.b.cfg.PresenceTTL
	alice := join(t, a, "d", "alice", "Alice")
	bob := join(t, b, "d", "bob", "Bob")
	carol := join(t, b, "d", "carol", "Carol")
	waitCount(t, "d", 3, a, b)

	alice.send(`{"type":"game","action":"start","seconds":180}`) // a referees
	for _, x := range []*player{alice, bob, carol} {
		x.expectGame("start")
		if m := x.expectGame("turn"); str(m.ev, "drawer") != "alice" {
			t.Fatalf("%s: got %s, want Alice drawing", x.name, describe(m))
		}
	}
	bob.chat("giraffe")
	var points int
	for _, x := range []*player{alice, bob, carol} {
		points = num(x.expectGame("guessed").ev, "points")
	}

	killed := time.Now()
	a.kill()
	for _, x := range []*player{bob, carol} {
		m := x.expectGame("over")
		took := time.Since(killed)
		t.Logf("%s: over %s after the referee died (TTL %s)", x.name, took.Round(time.Millisecond), ttl)
		// The claim expires at most a TTL after the death (its last renewal
		// came before it); the watchdog then looks every TTL/10, and a loaded
		// machine adds its scheduling delay.
		if bound := ttl + ttl/10 + 500*time.Millisecond; took > bound {
			t.Errorf("%s: got over %s after the referee died, want it within %s (TTL %s)", x.name, took, bound, ttl)
		}
		order, scores := clientsOf(t, m, "scores")
		if got, want := strings.Join(order, ","), "bob,alice,carol"; got != want ||
			scores["bob"] != points || scores["alice"] != game.DrawerPoints || scores["carol"] != 0 {
			t.Errorf("%s: got scores %v in order %s, want bob %d, alice %d, carol 0 in order %s", x.name, scores, got, points, game.DrawerPoints, want)
		}
		if str(m.ev, "winner") != "bob" {
			t.Errorf("%s: got winner %q, want bob", x.name, str(m.ev, "winner"))
		}
	}

	// A new game, refereed on b, once b no longer counts Alice.
	waitCount(t, "d", 2, b)
	carol.send(`{"type":"game","action":"start","seconds":15}`)
	for _, x := range []*player{bob, carol} {
		m := x.expectGame("start")
		if order, _ := clientsOf(t, m, "players"); strings.Join(order, ",") != "bob,carol" {
			t.Errorf("%s: got players %v, want bob,carol", x.name, order)
		}
		x.expectGame("turn")
	}
	carol.send(`{"type":"game","action":"stop"}`)
	for _, x := range []*player{bob, carol} {
		x.expectGame("reveal")
		x.expectGame("over")
	}
}

// TestGameHandover: the refereeing node's last member leaves while the game
// goes on elsewhere; the node hands the game over, and the other node
// goes on refereeing it. Along the way: a stop from a member on another
// node than the referee is refused there (forbidden, across nodes), and a
// member who joins mid-game on a node that has never seen the game gets
// start and turn, without the word.
func TestGameHandover(t *testing.T) {
	ns := startNATS(t, 0)
	gcfg := gameConfig(10*time.Millisecond, "giraffe", "volcano", "palm tree")
	a, b := startGameNode(t, ns, "a", gcfg), startGameNode(t, ns, "b", gcfg)
	alice := join(t, a, "h", "alice", "Alice")
	bob := join(t, b, "h", "bob", "Bob")
	carol := join(t, b, "h", "carol", "Carol")
	waitCount(t, "h", 3, a, b)

	alice.send(`{"type":"game","action":"start","seconds":180}`) // a referees; Alice draws first
	for _, x := range []*player{alice, bob, carol} {
		x.expectGame("start")
		x.expectGame("turn")
	}
	bob.send(`{"type":"game","action":"stop"}`) // only the starter may stop it
	bob.expectNext("error", "forbidden")

	alice.close() // a has nobody left: the game goes to b
	for _, x := range []*player{bob, carol} {
		if m := x.expectGame("reveal"); str(m.ev, "word") != "giraffe" {
			t.Errorf("%s: got %s, want the reveal of giraffe (the drawer left)", x.name, describe(m))
		}
		m := x.expectGame("turn")
		if str(m.ev, "drawer") != "bob" || num(m.ev, "turn") != 2 || num(m.ev, "turns") != 3 {
			t.Errorf("%s: got %s, want turn 2 of 3 drawn by bob", x.name, describe(m))
		}
	}

	// Dave joins on a, whose room is new: he gets the game from b.
	// Node a has never seen the game: it asks b, the referee, whether
	// "dave" holds a seat (relay.SeatAsker), and grants it.
	dave := join(t, a, "h", "dave", "Dave")
	if got := str(dave.hello, "client"); got != "dave" {
		t.Fatalf("dave on a node that never saw the game: hello.client %q, want dave (he holds no seat)", got)
	}
	m := dave.expectGame("start")
	if order, _ := clientsOf(t, m, "players"); strings.Join(order, ",") != "bob,carol,dave" {
		t.Errorf("dave: got players %v, want bob,carol,dave", order)
	}
	m = dave.expectGame("turn")
	if _, has := m.ev["word"]; has || str(m.ev, "drawer") != "bob" {
		t.Errorf("dave: got %s, want Bob's turn without the word", describe(m))
	}
	carol.chat("volcano")
	dave.chat("VOLCANO")
	for _, x := range []*player{bob, carol, dave} {
		x.expectGame("guessed")
		x.expectGame("guessed")
		if m := x.expectGame("reveal"); str(m.ev, "word") != "volcano" {
			t.Errorf("%s: got %s, want the reveal of volcano", x.name, describe(m))
		}
		if m := x.expectGame("turn"); str(m.ev, "drawer") != "carol" {
			t.Errorf("%s: got %s, want Carol's turn", x.name, describe(m))
		}
	}
	bob.chat("palm tree")
	dave.chat("palm tree")
	for _, x := range []*player{bob, carol, dave} {
		x.expectGame("guessed")
		x.expectGame("guessed")
		x.expectGame("reveal")
		if m := x.expectGame("turn"); str(m.ev, "drawer") != "dave" {
			t.Errorf("%s: got %s, want Dave's turn", x.name, describe(m))
		}
	}
	dave.close() // the drawer leaves on a: the turn ends, and so does the round
	for _, x := range []*player{bob, carol} {
		x.expectGame("reveal")
		x.expectGame("over")
	}
	// b released its claim: a new game can start.
	bob.send(`{"type":"game","action":"start","seconds":15}`)
	for _, x := range []*player{bob, carol} {
		x.expectGame("start")
		x.expectGame("turn")
	}
}

// TestGameOtherNodeDies: a node that does not referee dies mid-turn,
// without a word for its players. The referee takes them out of the game
// once presence has dropped them: the turn they held up ends (everyone
// still here has guessed), and the game goes on without them.
func TestGameOtherNodeDies(t *testing.T) {
	ns := startNATS(t, 0)
	gcfg := gameConfig(100*time.Millisecond, "giraffe", "volcano") // 18 s turns: only the drop can end this one
	a, b := startGameNode(t, ns, "a", gcfg), startGameNode(t, ns, "b", gcfg)
	ttl := a.b.cfg.PresenceTTL
	alice := join(t, a, "o", "alice", "Alice")
	dave := join(t, a, "o", "dave", "Dave")
	bob := join(t, b, "o", "bob", "Bob")
	waitCount(t, "o", 3, a, b)

	alice.send(`{"type":"game","action":"start","seconds":180}`) // a referees; Alice draws
	for _, x := range []*player{alice, dave, bob} {
		x.expectGame("start")
		x.expectGame("turn")
	}
	dave.chat("giraffe")
	for _, x := range []*player{alice, dave, bob} {
		x.expectGame("guessed")
	}
	killed := time.Now()
	b.kill()
	for _, x := range []*player{alice, dave} {
		x.expectGame("reveal")
		m := x.expectGame("turn")
		if str(m.ev, "drawer") != "dave" || num(m.ev, "turns") != 2 {
			t.Errorf("%s: got %s, want Dave drawing turn 2 of 2: Bob is out", x.name, describe(m))
		}
	}
	took := time.Since(killed)
	t.Logf("the dead node's player was out after %s (presence TTL %s)", took.Round(time.Millisecond), ttl)
	if limit := ttl + 2*ttl*5/6/3 + time.Second; took > limit {
		t.Errorf("Bob out after %s, want within the presence TTL and two claim renewals (%s)", took, limit)
	}
}
