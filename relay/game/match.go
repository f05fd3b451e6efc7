package game

import (
	"slices"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// player is one client in a game: all its connections are one player.
// Guarded by referee.mu.
type player struct {
	client  string
	name    string
	joined  int // first-join order in the game, for equal scores
	score   int
	reached uint64    // match.clock when score last grew: ties go to the lowest
	in      bool      // in the drawing order (not gone)
	goneAt  time.Time // when its last connection left; zero while it has one
}

type phase uint8

const (
	phaseTurn  phase = iota + 1 // a turn runs: someone draws, the rest guess
	phasePause                  // between a reveal and the next turn
)

// match is one running game. Guarded by referee.mu.
type match struct {
	// Static after newMatch.
	by      string // client who started it: the only one who may stop it
	rounds  int
	seconds int           // per turn, as the start command said
	turnLen time.Duration // seconds × Config.Second
	started time.Time
	timer   *time.Timer // the game's one timer, set by startLocked (see referee.scheduleLocked)

	players    map[string]*player // by client: everyone who played, leavers included
	played     []*player          // the same, in first-join order
	order      []*player          // drawing order: the players still in
	round      int                // from 1
	drawn      map[string]bool    // clients who drew in this round
	turn       int                // turns begun, from 1
	phase      phase
	drawer     *player // of the current (or, in a pause, the last) turn
	word       string
	endsAt     time.Time          // the turn's end
	guessed    map[string]bool    // clients who guessed in this turn
	pauseUntil time.Time          // the next turn, during a pause
	reveal     []byte             // the last reveal event, for late joiners in a pause
	clock      uint64             // counts score changes
	used       map[string]bool    // words drawn in this game
	told       map[string]bool    // connections that were members at the start: they got it with everyone
	budgets    map[string]*budget // guess budgets by client (see seats.go)
}

func newMatch(by string, rounds, seconds int, turnLen time.Duration, members []*player) *match {
	m := &match{
		by: by, rounds: rounds, seconds: seconds, turnLen: turnLen, started: time.Now(),
		players: make(map[string]*player, len(members)),
		played:  members,
		order:   slices.Clone(members),
		round:   1,
		drawn:   map[string]bool{},
		guessed: map[string]bool{},
		used:    map[string]bool{},
		told:    map[string]bool{},
		budgets: map[string]*budget{},
	}
	for _, p := range members {
		m.players[p.client] = p
	}
	return m
}

// join adds a member who joined during the game: a new client is appended
// to the drawing order, a known one (a reload) is found again.
func (m *match) join(p relay.Player) *player {
	pl := m.players[p.Client]
	if pl == nil {
		pl = &player{client: p.Client, name: p.Name, joined: len(m.played)}
		m.players[p.Client] = pl
		m.played = append(m.played, pl)
	}
	if !pl.in {
		pl.in = true
		m.order = append(m.order, pl)
	}
	pl.goneAt = time.Time{}
	return pl
}

// remove takes pl out of the drawing order. Its score stays.
func (m *match) remove(pl *player) {
	pl.in = false
	pl.goneAt = time.Time{}
	m.order = slices.DeleteFunc(m.order, func(x *player) bool { return x == pl })
}

// nextDrawer is the first player of the order who has not drawn in this
// round, moving to the next round when all have; nil after the last round.
// A player who is away (in its leave grace) is passed over while someone
// else can draw: it draws later in the round if it comes back.
func (m *match) nextDrawer() *player {
	if p := m.firstUndrawn(); p != nil {
		return p
	}
	if m.round >= m.rounds || len(m.order) == 0 {
		return nil
	}
	m.round++
	clear(m.drawn)
	return m.firstUndrawn()
}

func (m *match) firstUndrawn() *player {
	var away *player
	for _, p := range m.order {
		if m.drawn[p.client] {
			continue
		}
		if p.goneAt.IsZero() {
			return p
		}
		if away == nil {
			away = p
		}
	}
	return away
}

// remaining is the number of turns still to come after the current one.
func (m *match) remaining() int {
	n := 0
	for _, p := range m.order {
		if !m.drawn[p.client] {
			n++
		}
	}
	return n + (m.rounds-m.round)*len(m.order)
}

func (m *match) beginTurn(d *player, word string, now time.Time) {
	m.turn++
	m.phase = phaseTurn
	m.drawer = d
	m.drawn[d.client] = true
	m.word = word
	m.endsAt = now.Add(m.turnLen)
	clear(m.guessed)
	m.reveal = nil
}

// allGuessed reports whether every player but the drawer has guessed.
func (m *match) allGuessed() bool {
	for _, p := range m.order {
		if p != m.drawer && !m.guessed[p.client] {
			return false
		}
	}
	return true
}

// guessPoints is what a correct guess at now is worth:
// GuessBase + floor(GuessBonus × time left / turn length).
func (m *match) guessPoints(now time.Time) int {
	left := min(max(m.endsAt.Sub(now), 0), m.turnLen)
	if m.turnLen <= 0 {
		return GuessBase
	}
	return GuessBase + int(int64(GuessBonus)*int64(left)/int64(m.turnLen))
}

func (m *match) credit(p *player, points int) {
	m.clock++
	p.score += points
	p.reached = m.clock
}

// scores lists everyone who played, highest first; equal scores in the
// order they were reached, then in join order.
func (m *match) scores() []Score {
	ps := slices.Clone(m.played)
	slices.SortStableFunc(ps, func(a, b *player) int {
		if a.score != b.score {
			return b.score - a.score
		}
		if a.reached != b.reached {
			if a.reached < b.reached {
				return -1
			}
			return 1
		}
		return a.joined - b.joined
	})
	out := make([]Score, len(ps))
	for i, p := range ps {
		out[i] = Score{Client: p.client, Name: p.name, Score: p.score}
	}
	return out
}

func (m *match) startEvent() StartEvent {
	ps := make([]PlayerInfo, len(m.order))
	for i, p := range m.order {
		ps[i] = PlayerInfo{Client: p.client, Name: p.name}
	}
	return StartEvent{Type: relay.TypeGame, Event: EventStart, By: m.by, Rounds: m.rounds, Seconds: m.seconds, Players: ps}
}

// turnEvent is the current turn; withWord only for the drawer's copies.
func (m *match) turnEvent(withWord bool) TurnEvent {
	h, n := hint(m.word)
	ev := TurnEvent{
		Type: relay.TypeGame, Event: EventTurn, Turn: m.turn, Turns: m.turn + m.remaining(),
		Drawer: m.drawer.client, Name: m.drawer.name, Hint: h, Length: n, EndsAt: m.endsAt.UnixMilli(),
	}
	if withWord {
		ev.Word = m.word
	}
	return ev
}
