package game

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// firstWord makes the word choice predictable: the first word not used yet.
func firstWord(int) int { return 0 }

// TestGameSecrecy plays a whole game of three turns among three players and
// checks the contract as it goes: only the drawer's connections are ever
// told the word (the raw bytes every other member read before the reveal
// never hold it), guesses, chat routing, frames and the drawer's chat.
func TestGameSecrecy(t *testing.T) {
	cfg := testConfig("giraffe", "volcano", "palm tree")
	cfg.Intn = firstWord
	f := startRelay(t, cfg)
	a := f.join("play", "alice", "Alice")
	b := f.join("play", "bob", "Bob")
	c := f.join("play", "carol", "Carol")
	all := []*client{a, b, c}
	words := []string{"giraffe", "volcano", "palm tree"}
	drawers := []*client{a, b, c}

	a.start(`,"seconds":180`) // 180 game seconds of 10 ms: 1.8 s turns
	for _, x := range all {
		x.expectGame("start")
	}
	turn := func(k int) map[*client]msg {
		t.Helper()
		got := map[*client]msg{}
		for _, x := range all {
			m := x.expectGame("turn")
			got[x] = m
			w, has := m.ev["word"]
			if x == drawers[k-1] {
				if w != words[k-1] {
					t.Errorf("turn %d: drawer %s got word %v, want %q", k, x.name, w, words[k-1])
				}
			} else if has {
				t.Errorf("turn %d: %s is not the drawer but got a word field: %s", k, x.name, m)
			}
			if num(m.ev, "turn") != k || num(m.ev, "turns") != 3 || str(m.ev, "drawer") != drawers[k-1].id {
				t.Errorf("turn %d: %s got %s, want turn %d of 3 drawn by %s", k, x.name, m, k, drawers[k-1].id)
			}
			h, n := hint(words[k-1])
			if str(m.ev, "hint") != h || num(m.ev, "length") != n {
				t.Errorf("turn %d: %s got hint %q length %d, want %q %d", k, x.name, str(m.ev, "hint"), num(m.ev, "length"), h, n)
			}
		}
		return got
	}

	// Turn 1: Alice draws "giraffe". Bob guesses, Carol never does.
	turn(1)
	b.chat("horse")
	for _, x := range []*client{a, c} {
		if m := x.expectNext("chat", ""); str(m.ev, "text") != "horse" || str(m.ev, "client") != "bob" {
			t.Errorf("%s: got %s, want Bob's wrong guess as chat", x.name, m)
		}
	}
	b.chat("  GiRaFFe \t")
	var points int
	for _, x := range all {
		m := x.expectGame("guessed")
		points = num(m.ev, "points")
		if str(m.ev, "client") != "bob" || str(m.ev, "name") != "Bob" || points < GuessBase+GuessBonus*3/4 || points > GuessBase+GuessBonus {
			t.Errorf("%s: got %s, want bob guessed with an early guess's points", x.name, m)
		}
	}
	b.chat("giraffe, easy!") // Bob knows: only the drawer hears him now
	if m := a.expectNext("chat", ""); str(m.ev, "text") != "giraffe, easy!" {
		t.Errorf("Alice: got %s, want Bob's line", m)
	}
	b.chat("giraffe") // a second correct guess is dropped
	c.expectNothing(150 * time.Millisecond)
	a.expectNothing(0)
	b.expectNothing(0)
	a.chat("long neck")
	for _, x := range []*client{b, c} {
		x.expectNext("chat", "")
	}
	a.chat("it is a GIRAFFE") // the drawer may not give it away
	if m := a.expectNext("error", "forbidden"); strings.Contains(str(m.ev, "message"), "giraffe") {
		t.Errorf("Alice: error message repeats the word: %s", m)
	}
	b.expectNothing(150 * time.Millisecond)
	c.expectNothing(0)
	r1 := map[*client]msg{}
	for _, x := range all {
		r1[x] = x.expectGame("reveal") // time runs out: Carol never guessed
		if str(r1[x].ev, "word") != "giraffe" {
			t.Errorf("%s: reveal: got %s, want giraffe", x.name, r1[x])
		}
	}
	scores, order := scoresOf(t, r1[a])
	if scores["bob"] != points || scores["alice"] != DrawerPoints || scores["carol"] != 0 || strings.Join(order, ",") != "bob,alice,carol" {
		t.Errorf("reveal 1 scores: got %v in order %v, want bob %d, alice %d, carol 0, highest first", scores, order, points, DrawerPoints)
	}

	// Turn 2: Bob draws "volcano". Only his frames pass; nobody guesses.
	turn(2)
	png := tinyPNG(t)
	a.sendBinary(png)
	if m := a.expectNext("error", "forbidden"); num(m.ev, "seq") != 1 {
		t.Errorf("Alice's frame during Bob's turn: got %s, want forbidden with seq 1", m)
	}
	b.sendBinary(png)
	if m := b.expectNext("ack", ""); num(m.ev, "seq") != 1 {
		t.Errorf("Bob's frame: got %s, want ack seq 1", m)
	}
	for _, x := range []*client{a, c} {
		m := x.expectNext("frame", "")
		if str(m.ev, "client") != "bob" {
			t.Errorf("%s: got %s, want Bob's frame", x.name, m)
		}
		if img := x.next(wait); img.op != gws.OpcodeBinary || !bytes.Equal(img.data, png) {
			t.Errorf("%s: got %s, want Bob's image", x.name, img)
		}
	}
	c.sendBinary(png)
	if m := c.expectNext("error", "forbidden"); num(m.ev, "seq") != 1 {
		t.Errorf("Carol's frame: got %s, want forbidden with seq 1", m)
	}
	b.chat("VOLCANO!")
	b.expectNext("error", "forbidden")
	for _, x := range all {
		m := x.expectGame("reveal")
		if str(m.ev, "word") != "volcano" {
			t.Errorf("%s: reveal 2: got %s, want volcano", x.name, m)
		}
	}

	// Turn 3: Carol draws "palm tree"; Alice guesses; then the game is over.
	turn(3)
	a.chat("PALM TREE ")
	for _, x := range all {
		x.expectGame("guessed")
	}
	for _, x := range all {
		x.expectGame("reveal")
		o := x.expectGame("over")
		scores, _ := scoresOf(t, o)
		want := "bob"
		if scores["alice"] > scores["bob"] {
			want = "alice"
		}
		if str(o.ev, "winner") != want {
			t.Errorf("%s: over: got winner %q, want %q (scores %v)", x.name, str(o.ev, "winner"), want, scores)
		}
	}
	f.waitIdle()

	// The raw bytes: before the reveal of turn k, no member but its drawer
	// ever read word k. The drawer did (the check can fail).
	for k, w := range words {
		marker := `"event":"reveal"`
		for _, x := range all {
			raw := x.rawBytes()
			end := nthIndex(raw, []byte(marker), k+1)
			if end < 0 {
				t.Fatalf("%s: no reveal %d in its raw bytes", x.name, k+1)
			}
			leaked := bytes.Contains(bytes.ToLower(raw[:end]), []byte(w))
			if x == drawers[k] && !leaked {
				t.Errorf("%s drew %q but its raw bytes never held it: the check is broken", x.name, w)
			}
			if x != drawers[k] && leaked {
				t.Errorf("%s is not the drawer of turn %d, but read %q before the reveal", x.name, k+1, w)
			}
			if !bytes.Contains(raw, []byte(`"word":"`+w+`"`)) {
				t.Errorf("%s never read the reveal of %q", x.name, w)
			}
		}
	}
}

// nthIndex is the index of the n-th (from 1) occurrence of sep in s, or -1.
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
