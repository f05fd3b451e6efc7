package game

import (
	"encoding/json"
	"fmt"

	"github.com/canvasrelay/canvasrelay/relay"
)

// The game's events: every one is {"type":"game","event":…}.
const (
	EventStart   = "start"
	EventTurn    = "turn"
	EventGuessed = "guessed"
	EventReveal  = "reveal"
	EventOver    = "over"
)

// The game's commands ({"type":"game","action":…}).
const (
	ActionStart = "start"
	ActionStop  = "stop"
)

// PlayerInfo is one entry of a start event's players.
type PlayerInfo struct {
	Client string `json:"client"`
	Name   string `json:"name"`
}

// Score is one entry of a reveal or over event's scores.
type Score struct {
	Client string `json:"client"`
	Name   string `json:"name"`
	Score  int    `json:"score"`
}

// StartEvent announces a game, and tells a late joiner about it.
type StartEvent struct {
	Type    string       `json:"type"`
	Event   string       `json:"event"`
	By      string       `json:"by"`
	Rounds  int          `json:"rounds"`
	Seconds int          `json:"seconds"`
	Players []PlayerInfo `json:"players"`
}

// TurnEvent starts a turn. Word is set only in the copies the drawer's
// connections get; every other copy has no word field at all.
type TurnEvent struct {
	Type   string `json:"type"`
	Event  string `json:"event"`
	Turn   int    `json:"turn"`
	Turns  int    `json:"turns"`
	Drawer string `json:"drawer"`
	Name   string `json:"name"`
	Hint   string `json:"hint"`
	Length int    `json:"length"`
	EndsAt int64  `json:"ends_at"`
	Word   string `json:"word,omitempty"`
}

// GuessedEvent tells everyone that a member guessed the word.
type GuessedEvent struct {
	Type   string `json:"type"`
	Event  string `json:"event"`
	Client string `json:"client"`
	Name   string `json:"name"`
	Points int    `json:"points"`
}

// RevealEvent ends a turn.
type RevealEvent struct {
	Type   string  `json:"type"`
	Event  string  `json:"event"`
	Word   string  `json:"word"`
	Scores []Score `json:"scores"`
}

// OverEvent ends a game. Winner is "" when nobody scored.
type OverEvent struct {
	Type   string  `json:"type"`
	Event  string  `json:"event"`
	Scores []Score `json:"scores"`
	Winner string  `json:"winner"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings and numbers are marshalled here.
		panic(fmt.Sprintf("game: marshal %T: %v", v, err))
	}
	return b
}

func badRequest(format string, a ...any) error {
	return &relay.GameError{Code: relay.CodeBadRequest, Message: fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) error {
	return &relay.GameError{Code: relay.CodeForbidden, Message: fmt.Sprintf(format, a...)}
}

func alreadyRunning() error {
	return badRequest("a game is already running in this room; the member who started it can stop it")
}

func noGame() error { return badRequest("no game is running in this room") }
