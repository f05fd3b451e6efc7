package game

import (
	"fmt"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"golang.org/x/time/rate"
)

// Seats and guesses.
//
// Only a connection that may both publish and subscribe (relay.Player.Plays)
// takes a seat: it is listed in start, may be picked to draw, may start or
// stop a game, and is told the word when its client draws. A viewer
// (subscribe-only) or upload-only connection is never a player, even under
// a player's client id: it sees what a viewer sees (the public start, turn,
// guessed, reveal and over; never word, never the guessers' private chat),
// its frames are refused during a turn, and during a turn its chat lines
// are refused with forbidden (an upload-only connection could otherwise
// put a brute force through the word list in the room's chat, unscored but
// unlimited). Viewers cannot chat at all.
//
// Guesses are counted per player (client id), by the one referee that
// scores them, so every connection of a player, on every node, spends the
// same budget: Config.Guesses a turn, at Config.GuessRate a second.

// errNotSeated refuses a game command or a chat line during a turn from a
// connection that does not play.
func errNotSeated(what string) error {
	return forbidden("%s: this connection does not play (it needs a token that may both publish and subscribe)", what)
}

// budget is one player's guess budget in a game. Guarded by referee.mu.
type budget struct {
	rate  *rate.Limiter // nil: no rate limit
	tries int           // guesses in the current turn (reset by beginTurn)
	turn  int           // the turn tries counts for
}

// spendGuess takes one guess from client's budget at now, or returns the
// rate_limited error that refuses it.
func (m *match) spendGuess(client string, now time.Time, cfg *Config) error {
	b := m.budgets[client]
	if b == nil {
		b = &budget{}
		if cfg.GuessRate > 0 {
			b.rate = rate.NewLimiter(rate.Limit(cfg.GuessRate), cfg.GuessBurst)
		}
		m.budgets[client] = b
	}
	if b.turn != m.turn {
		b.turn, b.tries = m.turn, 0
	}
	if b.tries >= cfg.Guesses {
		return rateLimited("you have used your %d guesses for this turn (all your connections count)", cfg.Guesses)
	}
	if b.rate != nil && !b.rate.AllowN(now, 1) {
		return rateLimited("guessing too fast: %g guesses a second at most (all your connections count)", cfg.GuessRate)
	}
	b.tries++
	return nil
}

func rateLimited(format string, a ...any) error {
	return &relay.GameError{Code: relay.CodeRateLimited, Message: fmt.Sprintf(format, a...)}
}

// seated keeps the players of in: the connections that may publish and
// subscribe.
func seated(in []relay.Player) []relay.Player {
	out := make([]relay.Player, 0, len(in))
	for _, p := range in {
		if p.Plays() {
			out = append(out, p)
		}
	}
	return out
}
