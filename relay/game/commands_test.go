package game

import (
	"strings"
	"testing"
	"time"
)

// TestStartRefused covers every reason a start is refused, each with
// bad_request and a message that says why, and nothing sent to the others.
func TestStartRefused(t *testing.T) {
	f := startRelay(t, testConfig("giraffe"))
	tests := []struct {
		name    string
		cmd     string
		alone   bool
		twin    bool // the second member has the same client id
		code    string
		message string
	}{
		{"alone in the room", `{"type":"game","action":"start"}`, true, false, "bad_request", "at least 2 players"},
		{"two connections of one client", `{"type":"game","action":"start"}`, false, true, "bad_request", "at least 2 players"},
		{"rounds 0", `{"type":"game","action":"start","rounds":0}`, false, false, "bad_request", "rounds is 0: want 1 to 10"},
		{"rounds 11", `{"type":"game","action":"start","rounds":11}`, false, false, "bad_request", "rounds is 11: want 1 to 10"},
		{"seconds 14", `{"type":"game","action":"start","seconds":14}`, false, false, "bad_request", "seconds is 14: want 15 to 180"},
		{"seconds 181", `{"type":"game","action":"start","seconds":181}`, false, false, "bad_request", "seconds is 181: want 15 to 180"},
		{"rounds not an integer", `{"type":"game","action":"start","rounds":1.5}`, false, false, "bad_request", "rounds"},
		{"seconds a string", `{"type":"game","action":"start","seconds":"60"}`, false, false, "bad_request", "seconds"},
		{"unknown action", `{"type":"game","action":"pause"}`, false, false, "bad_request", `unknown game action "pause"`},
		{"no action", `{"type":"game"}`, false, false, "bad_request", `unknown game action ""`},
		{"stop with no game", `{"type":"game","action":"stop"}`, false, false, "bad_request", "no game is running"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			room := "refused-" + string(rune('a'+i))
			a, resume := f.joinKept(room, "alice", "Alice")
			var b *client
			switch {
			case tt.twin:
				b = f.rejoin(room, "alice", "Alice2", resume)
			case !tt.alone:
				b = f.join(room, "bob", "Bob")
			}
			a.send(tt.cmd)
			m := a.expectNext("error", tt.code)
			if msg := str(m.ev, "message"); !strings.Contains(msg, tt.message) {
				t.Errorf("error message: got %q, want it to contain %q", msg, tt.message)
			}
			if _, ok := m.ev["seq"]; ok {
				t.Errorf("error about a command: got seq in %s, want none", m)
			}
			if b != nil {
				b.expectNothing(100 * time.Millisecond)
			}
			if n := f.running(); n != 0 {
				t.Errorf("games running: got %d, want 0", n)
			}
		})
	}
}

// TestStartStop: start with defaults, a second start refused, stop refused
// to anyone but the starter, and stop by the starter: reveal, then over.
func TestStartStop(t *testing.T) {
	cfg := testConfig("giraffe")
	cfg.Second = time.Second // real turns: nothing times out here
	f := startRelay(t, cfg)
	a := f.join("stop", "alice", "Alice")
	b := f.join("stop", "bob", "Bob")
	c := f.join("stop", "carol", "Carol")
	all := []*client{a, b, c}

	before := time.Now()
	b.start("")
	for _, x := range all {
		m := x.expectGame("start")
		if str(m.ev, "by") != "bob" || num(m.ev, "rounds") != 1 || num(m.ev, "seconds") != 60 {
			t.Errorf("%s: start: got %s, want by bob, rounds 1, seconds 60", x.name, m)
		}
		players, _ := m.ev["players"].([]any)
		var got []string
		for _, p := range players {
			e, _ := p.(map[string]any)
			got = append(got, str(e, "client")+"/"+str(e, "name"))
		}
		if strings.Join(got, ",") != "alice/Alice,bob/Bob,carol/Carol" {
			t.Errorf("%s: players: got %v, want alice, bob, carol in join order", x.name, got)
		}
		tm := x.expectGame("turn")
		endsAt := time.UnixMilli(int64(num(tm.ev, "ends_at")))
		if d := endsAt.Sub(before); d < 59*time.Second || d > 61*time.Second {
			t.Errorf("%s: ends_at: got %s after start, want 60 s", x.name, d)
		}
		if num(tm.ev, "turn") != 1 || num(tm.ev, "turns") != 3 || str(tm.ev, "drawer") != "alice" || str(tm.ev, "name") != "Alice" {
			t.Errorf("%s: turn: got %s, want turn 1 of 3 drawn by alice", x.name, tm)
		}
	}

	c.start(`,"rounds":2`)
	if m := c.expectNext("error", "bad_request"); !strings.Contains(str(m.ev, "message"), "already running") {
		t.Errorf("second start: got %s, want bad_request saying a game is running", m)
	}
	for _, x := range []*client{a, c} {
		x.send(`{"type":"game","action":"stop"}`)
		if m := x.expectNext("error", "forbidden"); !strings.Contains(str(m.ev, "message"), "started the game") {
			t.Errorf("%s stop: got %s, want forbidden", x.name, m)
		}
	}
	a.expectNothing(100 * time.Millisecond)
	b.expectNothing(0)
	c.expectNothing(0)
	if f.running() != 1 {
		t.Fatalf("games running after refused stops: got %d, want 1", f.running())
	}

	b.send(`{"type":"game","action":"stop"}`)
	for _, x := range all {
		r := x.expectGame("reveal")
		if str(r.ev, "word") != "giraffe" {
			t.Errorf("%s: reveal: got %s, want word giraffe", x.name, r)
		}
		o := x.expectGame("over")
		if w, ok := o.ev["winner"]; !ok || w != "" {
			t.Errorf("%s: over: got %s, want winner \"\" (nobody scored)", x.name, o)
		}
		scores, order := scoresOf(t, o)
		if len(scores) != 3 || strings.Join(order, ",") != "alice,bob,carol" {
			t.Errorf("%s: over scores: got %v (order %v), want the three players at 0 in join order", x.name, scores, order)
		}
	}
	f.waitIdle()
	b.send(`{"type":"game","action":"stop"}`)
	b.expectNext("error", "bad_request")
}
