package wire

// The game's events: every one is {"type":"game","event":…}.

// GamePlayer is one entry of a start event's players.
type GamePlayer struct {
	Client string `json:"client"`
	Name   string `json:"name"`
}

// GameScore is one entry of a reveal or over event's scores.
type GameScore struct {
	Client string `json:"client"`
	Name   string `json:"name"`
	Score  int    `json:"score"`
}

// GameStartEvent announces a game, and tells a late joiner about it.
type GameStartEvent struct {
	Type    string       `json:"type"`
	Event   string       `json:"event"`
	By      string       `json:"by"`
	Rounds  int          `json:"rounds"`
	Seconds int          `json:"seconds"`
	Players []GamePlayer `json:"players"`
}

// GameTurnEvent starts a turn. Word is set only in the copies the drawer's
// connections get; every other copy has no word field at all.
type GameTurnEvent struct {
	Type   string `json:"type"`
	Event  string `json:"event"`
	Turn   int    `json:"turn"`
	Turns  int    `json:"turns"`
	Drawer string `json:"drawer"`
	Name   string `json:"name"`
	Hint   string `json:"hint"`
	Length int    `json:"length"`
	EndsAt int64  `json:"ends_at"` // ms since the Unix epoch
	Word   string `json:"word,omitempty"`
}

// GameGuessedEvent tells everyone that a member guessed the word.
type GameGuessedEvent struct {
	Type   string `json:"type"`
	Event  string `json:"event"`
	Client string `json:"client"`
	Name   string `json:"name"`
	Points int    `json:"points"`
}

// GameRevealEvent ends a turn.
type GameRevealEvent struct {
	Type   string      `json:"type"`
	Event  string      `json:"event"`
	Word   string      `json:"word"`
	Scores []GameScore `json:"scores"`
}

// GameOverEvent ends a game. Winner is "" when nobody scored.
type GameOverEvent struct {
	Type   string      `json:"type"`
	Event  string      `json:"event"`
	Scores []GameScore `json:"scores"`
	Winner string      `json:"winner"`
}
