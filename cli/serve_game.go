package cli

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/game"
	"github.com/spf13/pflag"
)

// gameOptions are the serve flags of the draw-and-guess game (package
// relay/game). Games are on by default.
type gameOptions struct {
	enabled bool
	words   string
}

// register adds the game flags to serve's flag set.
func (g *gameOptions) register(fs *pflag.FlagSet) {
	fs.BoolVar(&g.enabled, "games", true, "let every room host the draw-and-guess game (page /g/{room}); --games=false turns it off and game commands get bad_request")
	fs.StringVar(&g.words, "game-words", "", "word list `file` for the game: one word or short phrase a line, letters, spaces and hyphens, 32 characters at most (default: the built-in list of a few hundred nouns)")
}

// factory returns the relay's game factory, or nil when games are off. A
// bad word file is an error naming the file and the line: the server must
// not start with it. claims, when not nil, are the game claims of a broker
// whose rooms span nodes (NATS): games stay on, and each game is refereed
// by the one node that claims its room in the broker's game bucket
// (docs/game.md, "Several nodes"). The nodes of a cluster should load the
// same words.
func (g *gameOptions) factory(log *slog.Logger, claims relay.GameClaims) (relay.GameFactory, error) {
	if !g.enabled {
		if g.words != "" {
			return nil, usageError(errors.New("--game-words needs games on (drop --games=false)"))
		}
		return nil, nil
	}
	cfg := game.Config{Logger: log, Claims: claims}
	if g.words != "" {
		words, err := game.LoadWords(g.words)
		if err != nil {
			return nil, fmt.Errorf("--game-words: %w", err)
		}
		cfg.Words = words
		log.Info("game words loaded", "file", g.words, "words", len(words))
	}
	f, err := game.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("games: %w", err)
	}
	if claims != nil {
		log.Info("games are refereed across nodes: one node per game, claimed through NATS")
	}
	return f, nil
}
