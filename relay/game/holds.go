package game

import (
	"context"

	"github.com/canvasrelay/canvasrelay/relay"
)

// Seats as identity: a player's client id must not be taken by someone
// else while its game runs (the word, the drawing rights, the right to
// stop, the private chat of those who guessed all go by client id). The
// relay asks the room's game at each upgrade that names a client id
// without proving it (relay.SeatHolder).

var (
	_ relay.SeatHolder = (*referee)(nil)
	_ relay.SeatHolder = (*coordinator)(nil)
)

// HoldsSeat implements relay.SeatHolder: client played in the running
// game (leavers included).
func (r *referee) HoldsSeat(_ context.Context, client string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m != nil && r.m.players[client] != nil, nil
}

// HoldsSeat implements relay.SeatHolder across nodes. The node that
// referees answers from its game; another node says yes for everyone it
// saw in the game's events. For anyone else it cannot tell (a game may run
// on a node it has not heard from, and joiners there are announced only
// to themselves), so it returns relay.ErrSeatsUnknown and the relay asks
// the refereeing node (relay.SeatAsker).
func (c *coordinator) HoldsSeat(ctx context.Context, client string) (bool, error) {
	if c.leased() {
		return c.ref.HoldsSeat(ctx, client)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.view.running {
		for _, t := range c.view.tallies {
			if t.client == client {
				return true, nil
			}
		}
	}
	return false, relay.ErrSeatsUnknown
}
