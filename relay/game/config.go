package game

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// The contract's limits on a start command.
const (
	MinRounds      = wire.MinRounds
	MaxRounds      = wire.MaxRounds
	DefaultRounds  = wire.DefaultRounds
	MinSeconds     = wire.MinSeconds
	MaxSeconds     = wire.MaxSeconds
	DefaultSeconds = wire.DefaultSeconds
	// MaxPause is the longest pause the contract allows between a reveal and
	// the next turn.
	MaxPause = wire.MaxGamePause
)

// Scoring (see docs/game.md). A guesser who guesses with a fraction f of the
// turn left gets GuessBase + floor(GuessBonus × f) points: 100 at once, 50
// at the last moment. The drawer gets DrawerPoints for each member who
// guesses, credited right after that member's points.
const (
	GuessBase    = 50
	GuessBonus   = 50
	DrawerPoints = 25
)

// Guess limits (see docs/game.md, "Seats and guesses"). The public word list gives
// about 46 candidates per hint on average: a player who could try them all
// would find any word. So each player (a client id: all its connections,
// on every node, share one budget, kept by the referee) has
// DefaultGuesses guesses a turn, at DefaultGuessRate a second with bursts
// of DefaultGuessBurst. A guess past either limit gets error rate_limited
// and is dropped: never relayed, never checked against the word.
const (
	DefaultGuesses    = 8
	DefaultGuessRate  = 1.0
	DefaultGuessBurst = 3
)

// Config configures the games of a relay. The zero value is ready to use:
// every field documents its default.
type Config struct {
	// Words to draw, each valid as LoadWords checks. Default: DefaultWords().
	Words []string
	// Pause is the wait between a reveal and the next turn, so that people
	// see the word. Default 3 s; at most MaxPause.
	Pause time.Duration
	// LeaveGrace is how long a player may have no connection to the room
	// (a page reload) before it counts as gone: a drawer who comes back
	// within it is still the drawer and is told the word again. Default 3 s;
	// negative: a player leaves with its last connection.
	LeaveGrace time.Duration
	// Second is the length of one second of game time: a turn of "seconds"
	// lasts seconds × Second. Default time.Second. It exists so that tests
	// can run 15 s turns in 150 ms; it is not reachable from the wire, and
	// the wire's limits (15 to 180) hold whatever it is.
	Second time.Duration
	// Guesses is how many guesses one player (all the connections of its
	// client id, on every node) may make in one turn, right or wrong; past
	// it, its guesses in that turn get rate_limited and are dropped.
	// Default DefaultGuesses (8). It must stay far below the candidates a
	// hint leaves, or a brute force through the word list wins.
	Guesses int
	// GuessRate is how many guesses a second one player may make, with
	// bursts of GuessBurst; a faster guess gets rate_limited, is dropped,
	// and does not count against Guesses. Default DefaultGuessRate (1) and
	// DefaultGuessBurst (3); a negative GuessRate: no rate (tests).
	GuessRate  float64
	GuessBurst int
	// Claims, when set, are the claims of a broker whose rooms span nodes
	// (the NATS broker's GameClaims()): each room's game is then refereed
	// by the one node that claims the room (see cluster.go), and the room's
	// players are its members on every node. Default nil: every node
	// referees its own rooms' games (right for a single node).
	Claims relay.GameClaims
	// Logger gets one line per game started and ended. Default: discard.
	Logger *slog.Logger
	// Intn picks a word: it returns a number in [0, n). Default math/rand/v2.
	Intn func(n int) int
}

func (c Config) withDefaults() Config {
	if c.Words == nil {
		c.Words = DefaultWords()
	}
	if c.Pause == 0 {
		c.Pause = 3 * time.Second
	}
	if c.LeaveGrace == 0 {
		c.LeaveGrace = 3 * time.Second
	}
	if c.Second == 0 {
		c.Second = time.Second
	}
	if c.Guesses == 0 {
		c.Guesses = DefaultGuesses
	}
	if c.GuessRate == 0 {
		c.GuessRate = DefaultGuessRate
	}
	if c.GuessBurst == 0 {
		c.GuessBurst = DefaultGuessBurst
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Intn == nil {
		c.Intn = rand.IntN
	}
	return c
}

// Validate reports what is wrong with c once its defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := checkWords(c.Words); err != nil {
		return fmt.Errorf("%w: Words: %w", ErrConfig, err)
	}
	if c.Pause < 0 || c.Pause > MaxPause {
		return fmt.Errorf("%w: Pause %s: want 0 to %s", ErrConfig, c.Pause, MaxPause)
	}
	if c.Guesses < 1 {
		return fmt.Errorf("%w: Guesses %d: want at least 1", ErrConfig, c.Guesses)
	}
	if c.GuessBurst < 1 {
		return fmt.Errorf("%w: GuessBurst %d: want at least 1", ErrConfig, c.GuessBurst)
	}
	if c.Second < 0 {
		return fmt.Errorf("%w: Second %s: want more than 0", ErrConfig, c.Second)
	}
	return nil
}

// New returns the factory that gives each room of a relay its referee, or
// the error of cfg.Validate. Plug it in as relay.Config.Game. With
// cfg.Claims set (a broker whose rooms span nodes), each room gets a
// coordinator instead, which referees on one node only (see cluster.go).
func New(cfg Config) (relay.GameFactory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	words := append([]string(nil), cfg.Words...)
	cfg.Words = words
	return func(room relay.GameRoom) relay.Game {
		if cfg.Claims != nil {
			return newCoordinator(room, cfg.Claims, &cfg)
		}
		return newReferee(room, &cfg)
	}, nil
}

// Factory is New for a config known to be good; it panics on a bad one.
func Factory(cfg Config) relay.GameFactory {
	f, err := New(cfg)
	if err != nil {
		panic("game: " + err.Error())
	}
	return f
}
