package game

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// TestBruteForcePerTurnCap: even with no guess rate at all, the per-turn
// budget alone stops a brute force: Config.Guesses lines are relayed as
// wrong guesses, every later one gets rate_limited, and the word (the last
// candidate) is never checked.
func TestBruteForcePerTurnCap(t *testing.T) {
	relayed, limited, found, candidates := bruteForce(t, func(c *Config) { c.GuessRate = -1 })
	if found {
		t.Fatalf("a brute force through the %d candidates found the word", len(candidates))
	}
	if relayed != DefaultGuesses || limited != len(candidates)-DefaultGuesses {
		t.Errorf("%d candidates: %d relayed, %d rate_limited; want %d and %d", len(candidates), relayed, limited, DefaultGuesses, len(candidates)-DefaultGuesses)
	}
}

// TestGuessConfig: the guess limits are checked.
func TestGuessConfig(t *testing.T) {
	for _, c := range []Config{{Guesses: -1}, {GuessBurst: -2}} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: Validate is nil, want an error", c)
		}
	}
}

// TestHandoverKeepsGuessCounts: a game handed to another node keeps each
// player's guesses in the running turn, so a handover never refills a
// brute force's budget.
func TestHandoverKeepsGuessCounts(t *testing.T) {
	cfg := testConfig("giraffe").withDefaults()
	cfg.GuessRate = -1
	alice := &player{client: "alice", name: "Alice", in: true}
	bob := &player{client: "bob", name: "Bob", in: true, joined: 1}
	m := newMatch("alice", 1, 60, time.Minute, []*player{alice, bob})
	m.beginTurn(alice, "giraffe", time.Now())
	for range cfg.Guesses - 1 {
		if err := m.spendGuess("bob", time.Now(), &cfg); err != nil {
			t.Fatal(err)
		}
	}
	data, err := json.Marshal(m.snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var st matchState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	m2, err := st.restore()
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.spendGuess("bob", time.Now(), &cfg); err != nil {
		t.Fatalf("Bob's last guess after the handover: %v", err)
	}
	err = m2.spendGuess("bob", time.Now(), &cfg)
	var ge *relay.GameError
	if !errors.As(err, &ge) || ge.Code != relay.CodeRateLimited {
		t.Fatalf("Bob's guess %d after the handover: got %v, want rate_limited", cfg.Guesses+1, err)
	}
}
