package game

import (
	"context"

	"github.com/canvasrelay/canvasrelay/relay"
)

// Seats: a player's client id must not be taken by someone else while its
// game runs (the word, the drawing rights, the right to stop, the private
// chat of those who guessed all go by client id). The relay asks the
// room's game at each upgrade that names a client id without proving it
// (relay.SeatHolder).

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
// referees answers from its game. Another node answers from what it saw
// of the game (everyone named in its events). A node that saw no game asks
// the claims whether one runs elsewhere, and if one does, says true for
// every id: it cannot know the seats, and a wrong "no" would hand a seat
// over (an unproven id then gets a fresh one, which is never an error).
func (c *coordinator) HoldsSeat(ctx context.Context, client string) (bool, error) {
	if c.leased() {
		return c.ref.HoldsSeat(ctx, client)
	}
	c.mu.Lock()
	running := c.view.running
	seen := false
	for _, t := range c.view.tallies {
		if t.client == client {
			seen = true
			break
		}
	}
	c.mu.Unlock()
	if running {
		return seen, nil
	}
	holder, err := c.claims.Holder(ctx, c.room.Name())
	if err != nil {
		return true, err
	}
	return holder != "", nil
}
