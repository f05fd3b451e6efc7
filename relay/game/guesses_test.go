package game

import "testing"

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
