package game

import (
	"encoding/json"
	"fmt"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// The game's events: every one is {"type":"game","event":…} (package wire
// holds their names and shapes).
const (
	EventStart   = wire.GameStart
	EventTurn    = wire.GameTurn
	EventGuessed = wire.GameGuessed
	EventReveal  = wire.GameReveal
	EventOver    = wire.GameOver
)

// The game's commands ({"type":"game","action":…}).
const (
	ActionStart = wire.ActionStart
	ActionStop  = wire.ActionStop
)

type (
	// PlayerInfo is one entry of a start event's players.
	PlayerInfo = wire.GamePlayer
	// Score is one entry of a reveal or over event's scores.
	Score = wire.GameScore
	// StartEvent announces a game, and tells a late joiner about it.
	StartEvent = wire.GameStartEvent
	// TurnEvent starts a turn. Word is set only in the copies the drawer's
	// connections get; every other copy has no word field at all.
	TurnEvent = wire.GameTurnEvent
	// GuessedEvent tells everyone that a member guessed the word.
	GuessedEvent = wire.GameGuessedEvent
	// RevealEvent ends a turn.
	RevealEvent = wire.GameRevealEvent
	// OverEvent ends a game. Winner is "" when nobody scored.
	OverEvent = wire.GameOverEvent
)

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
