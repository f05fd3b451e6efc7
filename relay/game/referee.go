package game

import (
	"log/slog"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// referee is the relay.Game of one room. The relay calls it from the
// room's connections' goroutines; its timer calls it from a timer
// goroutine. Every method takes mu, changes the state and queues what that
// means for the room as effects (out) while holding it, releases mu, then
// carries the effects out (see effects.go): events leave in the order of
// the state changes, and no room call (none of the network calls behind
// it) ever runs under mu.
type referee struct {
	// Static after construction.
	room relay.GameRoom
	cfg  *Config
	log  *slog.Logger
	out  *outbox // effects decided under mu, carried out after it
	// ended, when set, is called (holding mu) when a game ends with its
	// over event; it must not block or call back (the cluster coordinator
	// releases the room's claim).
	ended func()
	// mayStart, when set, is asked (holding mu) before a valid start
	// begins a game; false refuses it with errUnclaimed (the cluster
	// coordinator lets a game start only under a fresh claim).
	mayStart func() bool

	mu     sync.Mutex // guards everything below
	m      *match     // the running game; nil when none runs
	closed bool       // the room is gone: no game can start
}

func newReferee(room relay.GameRoom, cfg *Config) *referee {
	return &referee{room: room, cfg: cfg, log: cfg.Logger.With("room", room.Name()), out: newOutbox(room)}
}

// flush carries out the effects decided so far. Every method that may
// decide some calls it once mu is released: defer r.flush() before
// locking, so that it runs after the unlock.
func (r *referee) flush() { r.logDropped(r.out.flush()) }

func (r *referee) logDropped(n int) {
	if n > 0 {
		r.log.Error("game effects dropped: the room did not take them fast enough", "dropped", n)
	}
}

func (r *referee) broadcast(event []byte) { r.out.emit(effect{op: opBroadcast, event: event}) }

func (r *referee) sendTo(conn string, event []byte) {
	r.out.emit(effect{op: opSendTo, conn: conn, event: event})
}

var _ relay.Game = (*referee)(nil)

// Input: a referee on its own plays on one node, and gets no game input.
func (r *referee) Input([]byte) {}

// Observe: a referee on its own sees only its own events.
func (r *referee) Observe([]byte) {}

// Command handles start and stop.
func (r *referee) Command(p relay.Player, cmd relay.GameCommand) error {
	defer r.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	var err error
	switch {
	case !p.Plays() && (cmd.Action == ActionStart || cmd.Action == ActionStop):
		err = errNotSeated("only players may start or stop a game")
	case cmd.Action == ActionStart:
		err = r.startLocked(p, cmd, now)
	case cmd.Action == ActionStop:
		err = r.stopLocked(p, now)
	default:
		err = badRequest("unknown game action %q: want start or stop", cmd.Action)
	}
	r.scheduleLocked(now)
	return err
}

func (r *referee) startLocked(p relay.Player, cmd relay.GameCommand, now time.Time) error {
	if r.closed {
		return badRequest("the room is closing")
	}
	if r.m != nil {
		return alreadyRunning()
	}
	present := r.room.Players()
	rounds, seconds, members, err := checkStart(cmd, seated(present))
	if err != nil {
		return err
	}
	if r.mayStart != nil && !r.mayStart() {
		return errUnclaimed
	}
	m := newMatch(p.Client, rounds, seconds, time.Duration(seconds)*r.cfg.Second, members)
	for _, q := range present {
		m.told[q.Conn] = true
	}
	m.timer = time.AfterFunc(time.Hour, func() { r.tick(m) }) // set by scheduleLocked
	r.m = m
	r.broadcast(mustJSON(m.startEvent()))
	r.log.Info("game started", "by", p.Client, "players", len(members), "rounds", rounds, "seconds", seconds)
	r.nextTurnLocked(now)
	return nil
}

// checkStart checks a start command against the contract and the room's
// seated members (see seated), and returns its rounds, seconds and players.
func checkStart(cmd relay.GameCommand, in []relay.Player) (rounds, seconds int, members []*player, err error) {
	rounds, seconds = DefaultRounds, DefaultSeconds
	if cmd.Rounds != nil {
		rounds = *cmd.Rounds
		if rounds < MinRounds || rounds > MaxRounds {
			return 0, 0, nil, badRequest("rounds is %d: want %d to %d", rounds, MinRounds, MaxRounds)
		}
	}
	if cmd.Seconds != nil {
		seconds = *cmd.Seconds
		if seconds < MinSeconds || seconds > MaxSeconds {
			return 0, 0, nil, badRequest("seconds is %d: want %d to %d", seconds, MinSeconds, MaxSeconds)
		}
	}
	seen := map[string]bool{}
	for _, q := range in {
		if seen[q.Client] {
			continue
		}
		seen[q.Client] = true
		members = append(members, &player{client: q.Client, name: q.Name, in: true, joined: len(members)})
	}
	if len(members) < 2 {
		return 0, 0, nil, badRequest("a game needs at least 2 players (distinct clients whose connections may publish and subscribe) in the room; there is %d", len(members))
	}
	return rounds, seconds, members, nil
}

func (r *referee) stopLocked(p relay.Player, now time.Time) error {
	m := r.m
	if m == nil {
		return noGame()
	}
	if p.Client != m.by {
		return forbidden("only the member who started the game may stop it")
	}
	r.endGameLocked("stopped", now)
	return nil
}

// Chat referees a chat line while a turn runs.
func (r *referee) Chat(p relay.Player, text string) (bool, error) {
	defer r.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	if m == nil || m.phase != phaseTurn {
		return false, nil
	}
	now := time.Now()
	defer r.scheduleLocked(now)
	if !p.Plays() {
		return false, errNotSeated("only players chat during a turn")
	}
	if p.Client == m.drawer.client {
		if givesAway(text, m.word) {
			return false, forbidden("that line gives the word away: it was not sent")
		}
		return false, nil
	}
	pl := m.players[p.Client]
	if pl == nil || !pl.in {
		return false, nil
	}
	if m.guessed[p.Client] {
		if isGuess(text, m.word) {
			return true, nil // scores once per turn: a later correct guess is dropped
		}
		// Only those who know the word hear those who know it.
		to := make([]string, 0, len(m.guessed)+1)
		to = append(to, m.drawer.client)
		for c := range m.guessed {
			to = append(to, c)
		}
		r.out.emit(effect{op: opRelayChat, from: p, text: text, to: to})
		return true, nil
	}
	// Every line from a player who has not guessed yet is a guess, and
	// spends its budget, right or wrong; a refused one is never relayed,
	// so its refusal tells nothing about the word.
	if err := m.spendGuess(p.Client, now, r.cfg); err != nil {
		return true, err
	}
	if !isGuess(text, m.word) {
		return false, nil
	}
	points := m.guessPoints(now)
	m.credit(pl, points)
	m.credit(m.drawer, DrawerPoints)
	m.guessed[p.Client] = true
	r.broadcast(mustJSON(GuessedEvent{Type: relay.TypeGame, Event: EventGuessed, Client: pl.client, Name: pl.name, Points: points}))
	if m.allGuessed() {
		r.endTurnLocked(now)
	}
	return true, nil
}

// AllowFrame lets only the drawer's seated connections publish while a turn
// runs.
func (r *referee) AllowFrame(p relay.Player) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	return m == nil || m.phase != phaseTurn || p.Plays() && p.Client == m.drawer.client
}

// Joined tells a member who joins during a game where it stands: start
// (with it listed last if it is new) and the current turn, with the word
// only if it is the drawer; during a pause, the reveal too. It returns once
// those are queued for p (see outbox.flushWait): the relay starts p's
// writer right after, so they come right after its hello and layers.
func (r *referee) Joined(p relay.Player) {
	r.joined(p)
	r.logDropped(r.out.flushWait())
}

// joinedAsync is Joined for a member on another node (a joined input,
// taken in the broker's callback): it must not wait.
func (r *referee) joinedAsync(p relay.Player) {
	defer r.flush()
	r.joined(p)
}

func (r *referee) joined(p relay.Player) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	if m == nil {
		return
	}
	now := time.Now()
	if !p.Plays() {
		// A viewer or upload: no seat, and what a viewer sees.
		if p.Subscribe && !m.told[p.Conn] {
			r.sendTo(p.Conn, mustJSON(m.startEvent()))
			if m.turn > 0 {
				r.sendTo(p.Conn, mustJSON(m.turnEvent(false)))
				if m.phase == phasePause && m.reveal != nil {
					r.sendTo(p.Conn, m.reveal)
				}
			}
		}
		return
	}
	pl := m.join(p)
	if m.told[p.Conn] {
		// It was a member when the game started, and got start and the
		// first turn with everyone: its Joined comes late (a join racing
		// the start; across nodes, a joined input behind it).
		r.scheduleLocked(now)
		return
	}
	r.sendTo(p.Conn, mustJSON(m.startEvent()))
	if m.turn > 0 {
		r.sendTo(p.Conn, mustJSON(m.turnEvent(pl == m.drawer)))
		if m.phase == phasePause && m.reveal != nil {
			r.sendTo(p.Conn, m.reveal)
		}
	}
	r.scheduleLocked(now)
}

// Left notes a player with no connection left. It leaves the game after
// Config.LeaveGrace unless it comes back (a reload).
func (r *referee) Left(p relay.Player) {
	defer r.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	if m == nil || !p.Plays() {
		return
	}
	pl := m.players[p.Client]
	if pl == nil || !pl.in {
		return
	}
	for _, q := range r.room.Players() {
		if q.Client == p.Client && q.Conn != p.Conn && q.Plays() {
			return // another seated connection of the same client is still here
		}
	}
	now := time.Now()
	if r.cfg.LeaveGrace < 0 {
		r.dropLocked(pl, now)
	} else {
		pl.goneAt = now
	}
	r.scheduleLocked(now)
}

// absent lists the clients that play (in the drawing order, not away)
// but have no connection among present.
func (r *referee) absent(present []relay.Player) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		return nil
	}
	here := make(map[string]bool, len(present))
	for _, q := range present {
		if q.Plays() {
			here[q.Client] = true
		}
	}
	var out []string
	for _, pl := range r.m.order {
		if pl.goneAt.IsZero() && !here[pl.client] {
			out = append(out, pl.client)
		}
	}
	return out
}

// gone notes that client has no connection left, as Left does for its last
// one: its node died without telling (see coordinator.reconcile).
func (r *referee) gone(client string) {
	defer r.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	if m == nil {
		return
	}
	pl := m.players[client]
	if pl == nil || !pl.in || !pl.goneAt.IsZero() {
		return
	}
	now := time.Now()
	r.log.Info("player gone without a word", "client", client)
	if r.cfg.LeaveGrace < 0 {
		r.dropLocked(pl, now)
	} else {
		pl.goneAt = now
	}
	r.scheduleLocked(now)
}

// Close ends the game without a word: the room is gone.
func (r *referee) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.m != nil {
		r.m.timer.Stop()
		r.m = nil
		r.log.Info("game over", "reason", "room closed")
	}
}

// tick is the game's timer: it ends turns and pauses that are due and drops
// players whose grace ran out.
func (r *referee) tick(m *match) {
	defer r.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m != m {
		return // a stale tick of a game that ended
	}
	now := time.Now()
	for _, pl := range append([]*player(nil), m.order...) {
		if !pl.goneAt.IsZero() && !now.Before(pl.goneAt.Add(r.cfg.LeaveGrace)) {
			r.dropLocked(pl, now)
			if r.m != m {
				return
			}
		}
	}
	switch {
	case m.phase == phaseTurn && !now.Before(m.endsAt):
		r.endTurnLocked(now)
	case m.phase == phasePause && !now.Before(m.pauseUntil):
		r.nextTurnLocked(now)
	}
	r.scheduleLocked(now)
}

// scheduleLocked sets the game's one timer to its next deadline.
func (r *referee) scheduleLocked(now time.Time) {
	m := r.m
	if m == nil {
		return
	}
	next := m.endsAt
	if m.phase == phasePause {
		next = m.pauseUntil
	}
	for _, pl := range m.order {
		if !pl.goneAt.IsZero() {
			if t := pl.goneAt.Add(r.cfg.LeaveGrace); t.Before(next) {
				next = t
			}
		}
	}
	m.timer.Reset(max(next.Sub(now), 0))
}

// nextTurnLocked starts the next turn, or ends the game when there is none.
func (r *referee) nextTurnLocked(now time.Time) {
	m := r.m
	d := m.nextDrawer()
	if d == nil || len(m.order) < 2 {
		r.endGameLocked("done", now)
		return
	}
	m.beginTurn(d, r.pickWord(m), now)
	r.out.emit(effect{op: opClearLayers})
	r.out.emit(effect{op: opSplit, event: mustJSON(m.turnEvent(false)), client: d.client, private: mustJSON(m.turnEvent(true))})
}

// endTurnLocked reveals the word, then pauses before the next turn, or
// ends the game after its last turn.
func (r *referee) endTurnLocked(now time.Time) {
	m := r.m
	r.revealLocked()
	if len(m.order) < 2 || m.remaining() == 0 {
		r.endGameLocked("done", now)
		return
	}
	m.pauseUntil = now.Add(r.cfg.Pause)
}

func (r *referee) revealLocked() {
	m := r.m
	m.phase = phasePause
	m.reveal = mustJSON(RevealEvent{Type: relay.TypeGame, Event: EventReveal, Word: m.word, Scores: m.scores()})
	r.broadcast(m.reveal)
}

// endGameLocked ends the game: a running turn ends with its reveal, then
// everyone gets over.
func (r *referee) endGameLocked(reason string, now time.Time) {
	m := r.m
	if m.phase == phaseTurn {
		r.revealLocked()
	}
	scores := m.scores()
	r.broadcast(overEvent(scores))
	m.timer.Stop()
	r.m = nil
	r.log.Info("game over", "reason", reason, "turns", m.turn, "winner", winner(scores), "took", now.Sub(m.started).Round(time.Millisecond))
	if r.ended != nil {
		r.ended()
	}
}

// overEvent is the over event for scores, listed highest first: the winner
// is the first, unless nobody scored.
func overEvent(scores []Score) []byte {
	return mustJSON(OverEvent{Type: relay.TypeGame, Event: EventOver, Scores: scores, Winner: winner(scores)})
}

func winner(scores []Score) string {
	if len(scores) > 0 && scores[0].Score > 0 {
		return scores[0].Client
	}
	return ""
}

// running reports whether a game runs.
func (r *referee) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m != nil
}

// abort ends the game without telling anyone, and returns its over event
// for the caller to deliver (nil when no game ran). The cluster
// coordinator uses it when it has lost the room's claim: other nodes have
// ended the game already.
func (r *referee) abort(reason string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.m
	if m == nil {
		return nil
	}
	m.timer.Stop()
	r.m = nil
	r.log.Warn("game over", "reason", reason, "turns", m.turn)
	return overEvent(m.scores())
}

// dropLocked takes a player out of the game: a drawer who leaves ends the
// turn, and fewer than two players end the game.
func (r *referee) dropLocked(pl *player, now time.Time) {
	m := r.m
	m.remove(pl)
	switch {
	case len(m.order) < 2:
		r.endGameLocked("too few players", now)
	case m.phase == phaseTurn && (pl == m.drawer || m.allGuessed()):
		r.endTurnLocked(now)
	}
}

// pickWord draws a word not used yet in this game (all of them again once
// every word was used).
func (r *referee) pickWord(m *match) string {
	words := r.cfg.Words
	if len(m.used) >= len(words) {
		clear(m.used)
	}
	free := make([]string, 0, len(words)-len(m.used))
	for _, w := range words {
		if !m.used[w] {
			free = append(free, w)
		}
	}
	w := free[r.cfg.Intn(len(free))]
	m.used[w] = true
	return w
}
