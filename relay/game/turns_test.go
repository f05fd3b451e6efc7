package game

import (
	"strings"
	"testing"
	"time"
)

// TestTimeRunsOut: nobody guesses; each turn ends at its ends_at with a
// reveal, the next one starts after the pause, and the game is over after
// the last turn with no winner.
func TestTimeRunsOut(t *testing.T) {
	f := startRelay(t, testConfig("giraffe", "volcano"))
	a := f.join("timeout", "alice", "Alice")
	b := f.join("timeout", "bob", "Bob")
	a.start(`,"seconds":15`) // 150 ms turns
	a.expectGame("start")
	b.expectGame("start")
	for k := 1; k <= 2; k++ {
		tm := b.expectGame("turn")
		a.expectGame("turn")
		endsAt := time.UnixMilli(int64(num(tm.ev, "ends_at")))
		if d := endsAt.Sub(tm.at); d < 100*time.Millisecond || d > 160*time.Millisecond {
			t.Errorf("turn %d: ends_at is %s after the turn arrived, want about 150 ms", k, d)
		}
		r := b.expectGame("reveal")
		a.expectGame("reveal")
		if early := endsAt.Sub(r.at); early > 2*time.Millisecond {
			t.Errorf("turn %d: reveal came %s before ends_at, want at or after it", k, early)
		}
		if late := r.at.Sub(endsAt); late > 2*time.Second {
			t.Errorf("turn %d: reveal came %s after ends_at", k, late)
		}
	}
	for _, x := range []*client{a, b} {
		o := x.expectGame("over")
		if w, ok := o.ev["winner"]; !ok || w != "" {
			t.Errorf("%s: over: got %s, want winner \"\"", x.name, o)
		}
		if s, _ := scoresOf(t, o); s["alice"] != 0 || s["bob"] != 0 {
			t.Errorf("%s: scores: got %v, want zeros", x.name, s)
		}
	}
	f.waitIdle()
}

// TestEveryoneGuessesEarly: the turn ends as soon as every other member has
// guessed, long before ends_at; the sooner guess scores more, the drawer
// scores per guesser. A stop in the pause gives over alone.
func TestEveryoneGuessesEarly(t *testing.T) {
	cfg := testConfig("giraffe")
	cfg.Pause = MaxPause // a long pause: the stop comes in it
	f := startRelay(t, cfg)
	a := f.join("early", "alice", "Alice")
	b := f.join("early", "bob", "Bob")
	c := f.join("early", "carol", "Carol")
	all := []*client{a, b, c}
	a.start(`,"seconds":180`)
	var endsAt time.Time
	for _, x := range all {
		x.expectGame("start")
		endsAt = time.UnixMilli(int64(num(x.expectGame("turn").ev, "ends_at")))
	}
	b.chat("giraffe")
	for _, x := range all {
		x.expectGame("guessed")
	}
	time.Sleep(200 * time.Millisecond) // a later guess is worth less
	c.chat("Giraffe")
	pts := map[string]int{}
	for _, x := range all {
		g := x.expectGame("guessed")
		pts[str(g.ev, "client")] = num(g.ev, "points")
		r := x.expectGame("reveal")
		if left := endsAt.Sub(r.at); left < 800*time.Millisecond {
			t.Errorf("%s: reveal only %s before ends_at, want it right after the last guess", x.name, left)
		}
		scores, order := scoresOf(t, r)
		if scores["alice"] != 2*DrawerPoints || scores["carol"] != pts["carol"] || scores["bob"] <= scores["carol"] {
			t.Errorf("%s: scores: got %v, want alice %d, bob > carol %d", x.name, scores, 2*DrawerPoints, pts["carol"])
		}
		if strings.Join(order, ",") != "bob,carol,alice" {
			t.Errorf("%s: score order: got %v, want bob, carol, alice", x.name, order)
		}
	}
	a.send(`{"type":"game","action":"stop"}`)
	for _, x := range all {
		o := x.expectGame("over") // no turn runs: no second reveal
		if str(o.ev, "winner") != "bob" {
			t.Errorf("%s: winner: got %q, want bob", x.name, str(o.ev, "winner"))
		}
	}
	f.waitIdle()
}

// TestScoreOrder: scores are highest first; equal scores go to whoever
// reached them first (so does the winner), then in join order.
func TestScoreOrder(t *testing.T) {
	players := []*player{{client: "a", joined: 0, in: true}, {client: "b", joined: 1, in: true}, {client: "c", joined: 2, in: true}, {client: "d", joined: 3, in: true}}
	m := newMatch("a", 1, 15, time.Second, players)
	m.credit(m.players["b"], 60)
	m.credit(m.players["a"], 35)
	m.credit(m.players["a"], 25) // a reaches 60 after b
	m.credit(m.players["c"], 10)
	var got []string
	for _, s := range m.scores() {
		got = append(got, s.Client)
	}
	if strings.Join(got, ",") != "b,a,c,d" {
		t.Errorf("scores: got %v, want b (reached 60 first), a, c, d", got)
	}
}
