package game

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// TestDrawerLeaves: the drawer leaving ends the turn with a reveal; turns
// shrinks; the leaver stays in the scores; then a second leaver leaves one
// player, and the running turn ends with its reveal, then over.
func TestDrawerLeaves(t *testing.T) {
	cfg := testConfig("giraffe", "volcano")
	cfg.Intn = firstWord
	f := startRelay(t, cfg)
	a := f.join("drawerleaves", "alice", "Alice")
	b := f.join("drawerleaves", "bob", "Bob")
	c := f.join("drawerleaves", "carol", "Carol")
	a.start(`,"seconds":180`)
	for _, x := range []*client{a, b, c} {
		x.expectGame("start")
		x.expectGame("turn")
	}
	c.chat("giraffe")
	for _, x := range []*client{a, b, c} {
		x.expectGame("guessed")
	}
	a.close()
	for _, x := range []*client{b, c} {
		r := x.expectGame("reveal")
		scores, order := scoresOf(t, r)
		if str(r.ev, "word") != "giraffe" || len(scores) != 3 || scores["alice"] != DrawerPoints || order[0] != "carol" {
			t.Errorf("%s: reveal after the drawer left: got %s, want giraffe with alice's %d points kept", x.name, r, DrawerPoints)
		}
		tm := x.expectGame("turn")
		if num(tm.ev, "turn") != 2 || num(tm.ev, "turns") != 3 || str(tm.ev, "drawer") != "bob" {
			t.Errorf("%s: got %s, want turn 2 of 3 (alice drew turn 1) drawn by bob", x.name, tm)
		}
	}
	b.close()
	r := c.expectGame("reveal")
	if str(r.ev, "word") != "volcano" {
		t.Errorf("carol: got %s, want the reveal of volcano", r)
	}
	o := c.expectGame("over")
	scores, _ := scoresOf(t, o)
	if len(scores) != 3 || str(o.ev, "winner") != "carol" {
		t.Errorf("carol: over: got %s, want all three scores and winner carol", o)
	}
	f.waitIdle()
}

// TestTooFewPlayers: a guesser leaving a game of two ends it: reveal, then
// over. A guesser leaving when all the others have guessed ends the turn.
func TestTooFewPlayers(t *testing.T) {
	f := startRelay(t, testConfig("giraffe"))
	t.Run("last guesser leaves", func(t *testing.T) {
		a := f.join("toofew", "alice", "Alice")
		b := f.join("toofew", "bob", "Bob")
		b.start(`,"seconds":180`)
		a.expectGame("start")
		a.expectGame("turn")
		b.close()
		a.expectGame("reveal")
		a.expectGame("over")
		f.waitIdle()
	})
	t.Run("a leaver who had not guessed ends the turn", func(t *testing.T) {
		a := f.join("leaver", "alice", "Alice")
		b := f.join("leaver", "bob", "Bob")
		c := f.join("leaver", "carol", "Carol")
		a.start(`,"seconds":180`)
		for _, x := range []*client{a, b, c} {
			x.expectGame("start")
			x.expectGame("turn")
		}
		b.chat("giraffe")
		for _, x := range []*client{a, b, c} {
			x.expectGame("guessed")
		}
		c.close()
		for _, x := range []*client{a, b} {
			x.expectGame("reveal") // everyone left has guessed
			tm := x.expectGame("turn")
			if num(tm.ev, "turns") != 2 || str(tm.ev, "drawer") != "bob" {
				t.Errorf("%s: got %s, want turn 2 of 2 drawn by bob", x.name, tm)
			}
		}
		a.send(`{"type":"game","action":"stop"}`)
		for _, x := range []*client{a, b} {
			x.expectGame("reveal")
			x.expectGame("over")
		}
		f.waitIdle()
	})
}

// TestLateJoiner: a member who joins mid-turn gets, right after hello and
// the layers, start (listing it last) and turn without the word; layers
// from before the turn are gone; it guesses in the running turn and draws
// later; turns grows.
func TestLateJoiner(t *testing.T) {
	cfg := testConfig("giraffe", "volcano")
	cfg.Intn = firstWord
	f := startRelay(t, cfg)
	a := f.join("late", "alice", "Alice")
	b := f.join("late", "bob", "Bob")
	png := tinyPNG(t)
	b.sendBinary(png) // before the game: anyone may draw
	b.expectNext("ack", "")
	a.expectNext("frame", "")
	a.next(wait)

	a.start(`,"seconds":180`)
	for _, x := range []*client{a, b} {
		x.expectGame("start")
		x.expectGame("turn")
	}
	drawing := append(bytes.Clone(png[:len(png)-12]), png[len(png)-12:]...)
	a.sendBinary(drawing)
	a.expectNext("ack", "")
	b.expectNext("frame", "")
	b.next(wait)

	c := f.join("late", "carol", "Carol")
	fr := c.expect("frame") // Alice's layer; Bob's was cleared by the turn
	if str(fr.ev, "client") != "alice" {
		t.Errorf("carol: got layer %s, want only alice's", fr)
	}
	if img := c.next(wait); img.op != gws.OpcodeBinary {
		t.Fatalf("carol: got %s, want alice's image", img)
	}
	st := c.expect("game")
	players, _ := st.ev["players"].([]any)
	var ids []string
	for _, p := range players {
		e, _ := p.(map[string]any)
		ids = append(ids, str(e, "client"))
	}
	if st.event() != "start" || str(st.ev, "by") != "alice" || strings.Join(ids, ",") != "alice,bob,carol" {
		t.Errorf("carol: got %s, want start by alice listing alice, bob, carol", st)
	}
	tm := c.expect("game")
	if _, has := tm.ev["word"]; tm.event() != "turn" || has || num(tm.ev, "turn") != 1 || num(tm.ev, "turns") != 3 || str(tm.ev, "drawer") != "alice" {
		t.Errorf("carol: got %s, want turn 1 of 3 by alice without a word", tm)
	}
	if bytes.Contains(c.rawBytes(), []byte("giraffe")) {
		t.Error("carol's raw bytes hold the word")
	}
	a.expect("presence")
	b.expect("presence")
	b.expectNothing(100 * time.Millisecond) // the others get no new start

	c.chat("giraffe")
	for _, x := range []*client{a, b, c} {
		if g := x.expectGame("guessed"); str(g.ev, "client") != "carol" {
			t.Errorf("%s: got %s, want carol guessed", x.name, g)
		}
	}
	b.chat("giraffe")
	for _, x := range []*client{a, b, c} {
		x.expectGame("guessed")
		x.expectGame("reveal")
	}
	for _, x := range []*client{a, b, c} {
		tm := x.expectGame("turn")
		if num(tm.ev, "turn") != 2 || str(tm.ev, "drawer") != "bob" {
			t.Errorf("%s: got %s, want turn 2 by bob", x.name, tm)
		}
	}
	a.send(`{"type":"game","action":"stop"}`)
	for _, x := range []*client{a, b, c} {
		x.expectGame("reveal")
		x.expectGame("over")
	}
	f.waitIdle()
}

// TestDrawerReload: a drawer whose page reloads (the same client id comes
// back within the grace) is still the drawer, is told the word again, and
// nobody else sees the turn change. A player who does not come back leaves
// when the grace runs out.
func TestDrawerReload(t *testing.T) {
	cfg := testConfig("giraffe")
	cfg.LeaveGrace = time.Second
	cfg.Second = 20 * time.Millisecond // 3.6 s turns: longer than the waits below
	f := startRelay(t, cfg)
	a, resume := f.joinKept("reload", "alice", "Alice")
	b := f.join("reload", "bob", "Bob")
	a.start(`,"seconds":180`)
	var first msg
	for _, x := range []*client{a, b} {
		x.expectGame("start")
		if x == a {
			first = x.expectGame("turn")
		} else {
			x.expectGame("turn")
		}
	}
	a.close()
	b.expect("presence")
	a2 := f.rejoin("reload", "alice", "Alice", resume)
	a2.expect("game") // start
	tm := a2.expect("game")
	if tm.event() != "turn" || str(tm.ev, "word") != "giraffe" || num(tm.ev, "turn") != 1 || num(tm.ev, "ends_at") != num(first.ev, "ends_at") {
		t.Errorf("alice after reload: got %s, want the same turn with the word", tm)
	}
	b.expect("presence")
	b.expectNothing(1200 * time.Millisecond) // the grace passes: no reveal, no new turn
	a2.expectNothing(0)

	gone := time.Now()
	b.close() // and does not come back
	r := a2.expectGame("reveal")
	if d := r.at.Sub(gone); d < 900*time.Millisecond {
		t.Errorf("bob counted as gone %s after he left, want after the 1 s grace", d)
	}
	a2.expectGame("over")
	f.waitIdle()
}

// TestAwayPlayerPassedOver: a player in its leave grace when its turn comes
// is passed over; once the grace runs out it is gone, and the game goes on
// with the others.
func TestAwayPlayerPassedOver(t *testing.T) {
	cfg := testConfig("giraffe", "volcano")
	cfg.LeaveGrace = time.Second
	f := startRelay(t, cfg)
	a := f.join("away", "alice", "Alice")
	b := f.join("away", "bob", "Bob")
	c := f.join("away", "carol", "Carol")
	a.start(`,"seconds":30`) // 300 ms turns
	for _, x := range []*client{a, b, c} {
		x.expectGame("start")
		x.expectGame("turn")
	}
	away := time.Now()
	b.close() // Bob's turn is next; he is away when it comes
	for _, x := range []*client{a, c} {
		x.expectGame("reveal")
		tm := x.expectGame("turn")
		if str(tm.ev, "drawer") != "carol" || num(tm.ev, "turn") != 2 {
			t.Errorf("%s: got %s, want turn 2 drawn by carol (bob is away)", x.name, tm)
		}
		x.expectGame("reveal")
		// Only Bob has not drawn: his turn comes, and ends when his grace
		// runs out (the drawer left); then the game is over.
		if tm := x.expectGame("turn"); str(tm.ev, "drawer") != "bob" || num(tm.ev, "turns") != 3 {
			t.Errorf("%s: got %s, want turn 3 of 3 drawn by bob", x.name, tm)
		}
		r := x.expectGame("reveal")
		if d := r.at.Sub(away); d < 900*time.Millisecond {
			t.Errorf("%s: bob's turn ended %s after he left, want after his 1 s grace", x.name, d)
		}
		o := x.expectGame("over")
		if s, _ := scoresOf(t, o); len(s) != 3 {
			t.Errorf("%s: over: got %v, want bob's score kept", x.name, s)
		}
	}
	f.waitIdle()
}

// TestDrawerTwoTabs: every connection of the drawer's client gets the
// word; one of them closing is not the drawer leaving; the starter's other
// connection may stop the game.
func TestDrawerTwoTabs(t *testing.T) {
	cfg := testConfig("giraffe")
	cfg.Second = 100 * time.Millisecond // 18 s turns: nothing times out here
	f := startRelay(t, cfg)
	a, resume := f.joinKept("tabs", "alice", "Alice")
	a2 := f.rejoin("tabs", "alice", "Alice", resume)
	b := f.join("tabs", "bob", "Bob")
	a.start(`,"seconds":180`)
	for _, x := range []*client{a, a2, b} {
		st := x.expectGame("start")
		if ps, _ := st.ev["players"].([]any); len(ps) != 2 {
			t.Errorf("%s: got %s, want two players (one per client)", x.name, st)
		}
		tm := x.expectGame("turn")
		if w, has := tm.ev["word"]; (x == b) == has || (x != b && w != "giraffe") {
			t.Errorf("%s: got %s, want the word in alice's two connections only", x.name, tm)
		}
	}
	a.close()
	b.expectNothing(200 * time.Millisecond) // alice is still here: no reveal
	a2.send(`{"type":"game","action":"stop"}`)
	for _, x := range []*client{a2, b} {
		x.expectGame("reveal")
		x.expectGame("over")
	}
	f.waitIdle()
}
