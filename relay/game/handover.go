package game

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Handover: when the refereeing node's last local member leaves while the
// game goes on elsewhere, the node cannot keep refereeing (its room, and
// with it its broker subscription, is gone). It hands the running match to
// the nodes still in the room: a snapshot of the match, and the claim's
// revision, which exactly one of them takes over (see coordinator.handover).

// matchState is a match as it crosses nodes. Times are Unix nanoseconds
// (0: none): the nodes' clocks agree within NTP's error, as presence
// already needs.
type matchState struct {
	By         string          `json:"by"`
	Rounds     int             `json:"rounds"`
	Seconds    int             `json:"seconds"`
	TurnLen    time.Duration   `json:"turn_len"`
	Started    int64           `json:"started"`
	Played     []playerState   `json:"played"` // first-join order
	Order      []string        `json:"order"`  // clients, drawing order
	Round      int             `json:"round"`
	Drawn      []string        `json:"drawn"`
	Turn       int             `json:"turn"`
	Phase      phase           `json:"phase"`
	Drawer     string          `json:"drawer"`
	Word       string          `json:"word"`
	EndsAt     int64           `json:"ends_at"`
	Guessed    []string        `json:"guessed"`
	PauseUntil int64           `json:"pause_until"`
	Reveal     json.RawMessage `json:"reveal,omitempty"`
	Clock      uint64          `json:"clock"`
	Used       []string        `json:"used"`
	// Tries are the guesses each player made in the current turn; their
	// guess rates start afresh on the node that takes over.
	Tries map[string]int `json:"tries,omitempty"`
}

type playerState struct {
	Client  string `json:"client"`
	Name    string `json:"name"`
	Joined  int    `json:"joined"`
	Score   int    `json:"score"`
	Reached uint64 `json:"reached"`
	In      bool   `json:"in"`
	GoneAt  int64  `json:"gone_at"`
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func set(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, k := range list {
		m[k] = true
	}
	return m
}

// snapshot is m as a matchState.
func (m *match) snapshot() *matchState {
	st := &matchState{
		By: m.by, Rounds: m.rounds, Seconds: m.seconds, TurnLen: m.turnLen, Started: nanos(m.started),
		Round: m.round, Drawn: keys(m.drawn), Turn: m.turn, Phase: m.phase, Word: m.word,
		EndsAt: nanos(m.endsAt), Guessed: keys(m.guessed), PauseUntil: nanos(m.pauseUntil),
		Reveal: m.reveal, Clock: m.clock, Used: keys(m.used),
	}
	if m.drawer != nil {
		st.Drawer = m.drawer.client
	}
	for client, b := range m.budgets {
		if b.turn == m.turn && b.tries > 0 {
			if st.Tries == nil {
				st.Tries = map[string]int{}
			}
			st.Tries[client] = b.tries
		}
	}
	for _, p := range m.played {
		st.Played = append(st.Played, playerState{
			Client: p.client, Name: p.name, Joined: p.joined, Score: p.score, Reached: p.reached, In: p.in, GoneAt: nanos(p.goneAt),
		})
	}
	for _, p := range m.order {
		st.Order = append(st.Order, p.client)
	}
	return st
}

// restore is the match st describes, without its timer.
func (st *matchState) restore() (*match, error) {
	if len(st.Played) == 0 || st.TurnLen <= 0 || st.Rounds < MinRounds || st.Rounds > MaxRounds {
		return nil, fmt.Errorf("%w: an empty or impossible match", ErrHandover)
	}
	m := &match{
		by: st.By, rounds: st.Rounds, seconds: st.Seconds, turnLen: st.TurnLen, started: fromNanos(st.Started),
		players: make(map[string]*player, len(st.Played)),
		round:   st.Round, drawn: set(st.Drawn), turn: st.Turn, phase: st.Phase, word: st.Word,
		endsAt: fromNanos(st.EndsAt), guessed: set(st.Guessed), pauseUntil: fromNanos(st.PauseUntil),
		reveal: st.Reveal, clock: st.Clock, used: set(st.Used), told: map[string]bool{},
		budgets: map[string]*budget{},
	}
	for _, ps := range st.Played {
		p := &player{client: ps.Client, name: ps.Name, joined: ps.Joined, score: ps.Score, reached: ps.Reached, in: ps.In, goneAt: fromNanos(ps.GoneAt)}
		m.players[p.client] = p
		m.played = append(m.played, p)
	}
	for _, c := range st.Order {
		if p := m.players[c]; p != nil && p.in {
			m.order = append(m.order, p)
		}
	}
	for client, n := range st.Tries {
		if m.players[client] == nil {
			continue // only players guess
		}
		m.budgets[client] = &budget{tries: n, turn: st.Turn}
	}
	m.drawer = m.players[st.Drawer]
	if m.turn > 0 && m.drawer == nil || m.phase != phaseTurn && m.phase != phasePause {
		return nil, fmt.Errorf("%w: turn %d with drawer %q in phase %d", ErrHandover, m.turn, st.Drawer, m.phase)
	}
	return m, nil
}

// export ends the referee's game without a word and returns it, for
// another node to go on with; nil when no game runs.
func (r *referee) export() *matchState {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	if m == nil {
		return nil
	}
	m.timer.Stop()
	r.m = nil
	r.log.Info("game handed over", "turn", m.turn)
	return m.snapshot()
}

// adopt goes on with a match another node handed over. It fails if a game
// runs here already or the room is closed.
func (r *referee) adopt(st *matchState) error {
	m, err := st.restore()
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.m != nil {
		return fmt.Errorf("%w: a game runs here already", ErrHandover)
	}
	m.timer = time.AfterFunc(time.Hour, func() { r.tick(m) })
	r.m = m
	r.log.Info("game taken over", "turn", m.turn, "players", len(m.order))
	r.scheduleLocked(time.Now())
	return nil
}
