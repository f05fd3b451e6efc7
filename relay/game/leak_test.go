package game

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestNoLeaks ends a game each way the contract allows, then shuts the
// relay down and checks that no goroutine is left: the game's timer is
// stopped with the game, and a room that empties mid-game stops its game.
func TestNoLeaks(t *testing.T) {
	tests := []struct {
		name string
		play func(t *testing.T, f *fixture, a, b, c *client)
	}{
		{"stopped by the starter", func(t *testing.T, f *fixture, a, b, c *client) {
			a.send(`{"type":"game","action":"stop"}`)
			a.expectGame("reveal")
			a.expectGame("over")
		}},
		{"time runs out on the last turn", func(t *testing.T, f *fixture, a, b, c *client) {
			for range 3 {
				a.expectGame("reveal")
				if _, ok := a.next(wait).ev["turn"]; !ok {
					break // over
				}
			}
		}},
		{"everyone guessed on every turn", func(t *testing.T, f *fixture, a, b, c *client) {
			for k := range 3 {
				for i, x := range []*client{a, b, c} {
					if i != k {
						x.chat("giraffe")
						a.expectGame("guessed")
					}
				}
				a.expectGame("reveal")
				if k < 2 {
					a.expectGame("turn")
				}
			}
			a.expectGame("over")
		}},
		{"fewer than two players", func(t *testing.T, f *fixture, a, b, c *client) {
			b.close()
			c.close()
			a.expectGame("reveal")
			a.expectGame("over")
		}},
		{"the drawer leaves, then too few", func(t *testing.T, f *fixture, a, b, c *client) {
			b.expectGame("start")
			b.expectGame("turn")
			a.close()
			b.expectGame("reveal")
			b.expectGame("turn")
			c.close()
			b.expectGame("reveal")
			b.expectGame("over")
		}},
		{"the room empties mid-turn", func(t *testing.T, f *fixture, a, b, c *client) {
			a.close()
			b.close()
			c.close()
		}},
		{"the relay shuts down mid-turn", func(t *testing.T, f *fixture, a, b, c *client) {
			f.shutdownNow()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last
			f := startRelay(t, testConfig("giraffe"))
			a := f.join("leak", "alice", "Alice")
			b := f.join("leak", "bob", "Bob")
			c := f.join("leak", "carol", "Carol")
			secs := `,"seconds":180`
			if tt.name == "time runs out on the last turn" {
				secs = `,"seconds":15`
			}
			a.start(secs)
			a.expectGame("start")
			a.expectGame("turn")
			tt.play(t, f, a, b, c)
			f.waitIdle()
			if tt.name == "the room empties mid-turn" || tt.name == "the relay shuts down mid-turn" {
				f.mu.Lock()
				r := f.refs[0]
				f.mu.Unlock()
				deadline := time.Now().Add(wait)
				for !closedRef(r) {
					if time.Now().After(deadline) {
						t.Fatal("the referee of the emptied room was not closed")
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

func closedRef(r *referee) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed && r.m == nil
}

// TestGuessPoints checks the scoring formula at its ends and middle.
func TestGuessPoints(t *testing.T) {
	now := time.Now()
	m := &match{turnLen: 60 * time.Second, endsAt: now.Add(60 * time.Second)}
	tests := []struct {
		at   time.Duration // since the turn began
		want int
	}{
		{0, 100},
		{30 * time.Second, 75},
		{59 * time.Second, 50},
		{60 * time.Second, 50},
		{90 * time.Second, 50},
	}
	for _, tt := range tests {
		if got := m.guessPoints(now.Add(tt.at)); got != tt.want {
			t.Errorf("guess %s into a 60 s turn: got %d points, want %d", tt.at, got, tt.want)
		}
	}
}
