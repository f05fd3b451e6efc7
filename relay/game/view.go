package game

import (
	"slices"

	"github.com/canvasrelay/canvasrelay/relay"
)

// view is a game refereed on another node, as this node saw it from the
// events that passed through its room. It is enough to refuse the frames
// of non-drawers at once, to know where to send chat, and, if the
// referee dies, to tell this node's members the game is over with the
// scores as they last stood. Guarded by coordinator.mu.
type view struct {
	running bool
	referee string // the node that referees, from its alive inputs
	inTurn  bool
	drawer  string
	tallies []tally // everyone seen in the game
	clock   uint64  // counts score changes, for ties
}

// tally is one player's score as this node saw it.
type tally struct {
	client, name string
	score        int
	reached      uint64 // when score last grew (view.clock); equal scores go to the lowest
}

// observe takes in a game event. It reports whether a game or a turn
// began.
func (v *view) observe(ev *seenEvent) (started, turn bool) {
	switch ev.Event {
	case EventStart:
		if !v.running {
			v.reset()
			v.running = true
			started = true
		}
		for _, p := range ev.Players {
			v.find(p.Client, p.Name)
		}
	case EventTurn:
		v.running, v.inTurn, v.drawer = true, true, ev.Drawer
		v.find(ev.Drawer, ev.Name)
		return false, true
	case EventGuessed:
		v.credit(v.find(ev.Client, ev.Name), ev.Points)
		if v.drawer != "" {
			v.credit(v.find(v.drawer, ""), DrawerPoints)
		}
	case EventReveal:
		v.inTurn = false
		v.tallies = v.tallies[:0]
		v.clock = 0
		for _, s := range ev.Scores {
			v.clock++
			v.tallies = append(v.tallies, tally{client: s.Client, name: s.Name, score: s.Score, reached: v.clock})
		}
	case EventOver:
		v.reset()
	}
	return started, false
}

// reset forgets the game: none runs.
func (v *view) reset() {
	referee := v.referee
	*v = view{referee: referee}
}

// find returns client's tally, added with no points if new.
func (v *view) find(client, name string) *tally {
	for i := range v.tallies {
		if v.tallies[i].client == client {
			if name != "" {
				v.tallies[i].name = name
			}
			return &v.tallies[i]
		}
	}
	v.clock++
	v.tallies = append(v.tallies, tally{client: client, name: name, reached: v.clock})
	return &v.tallies[len(v.tallies)-1]
}

func (v *view) credit(t *tally, points int) {
	v.clock++
	t.score += points
	t.reached = v.clock
}

// over is the over event of the game as this node last saw it: scores
// highest first, equal scores in the order they were reached, the winner
// first unless nobody scored.
func (v *view) over() []byte {
	ts := slices.Clone(v.tallies)
	slices.SortStableFunc(ts, func(a, b tally) int {
		if a.score != b.score {
			return b.score - a.score
		}
		if a.reached < b.reached {
			return -1
		}
		if a.reached > b.reached {
			return 1
		}
		return 0
	})
	scores := make([]Score, len(ts))
	for i, t := range ts {
		scores[i] = Score{Client: t.client, Name: t.name, Score: t.score}
	}
	return overEvent(scores)
}

// allows reports whether p may publish a frame now.
func (v *view) allows(p relay.Player) bool { return !v.inTurn || p.Plays() && p.Client == v.drawer }
