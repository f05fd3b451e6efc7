package natsbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go"
)

// Game seats across nodes (relay.SeatAsker): a node that cannot tell
// whether a client id holds a seat in a room's game asks the node that
// referees it, the holder of the room's claim in relay_games, with a core
// NATS request:
//
//	relay.v1.node.<node>.seat   request {"room":R,"client":C}   reply {"held":bool} or {"err":"…"}
//
// The answering node asks its own game only (relay's answer function never
// goes to the network), so a request never waits on another request.

const seatSubjectPrefix = "relay.v1.node."

func seatSubject(node string) string { return seatSubjectPrefix + escapeToken(node) + ".seat" }

// maxSeatQuestion bounds a question's size: a room and a client id of at
// most 64 characters each, escaped, in JSON.
const maxSeatQuestion = 1024

type seatQuestion struct {
	Room   string `json:"room"`
	Client string `json:"client"`
}

type seatAnswer struct {
	Held bool   `json:"held"`
	Err  string `json:"err,omitempty"`
}

// seatServer is this node's answering side. Guarded by its mu.
type seatServer struct {
	mu     sync.Mutex
	answer func(ctx context.Context, room, client string) (bool, error)
	sub    *nats.Subscription
}

var _ relay.SeatAsker = (*Broker)(nil)

// ServeSeats implements relay.SeatAsker: it subscribes to this node's seat
// subject and answers with answer.
func (b *Broker) ServeSeats(answer func(ctx context.Context, room, client string) (bool, error)) {
	b.seats.mu.Lock()
	defer b.seats.mu.Unlock()
	b.seats.answer = answer
	if b.seats.sub != nil || b.isClosed() {
		return
	}
	sub, err := b.nc.Subscribe(seatSubject(b.cfg.NodeID), b.answerSeat)
	if err != nil {
		b.log.Warn("seat questions will not be answered: other nodes give fresh ids for this node's players", "err", err)
		return
	}
	b.seats.sub = sub
}

func (b *Broker) answerSeat(m *nats.Msg) {
	reply := func(a seatAnswer) {
		data, _ := json.Marshal(a)
		_ = m.Respond(data)
	}
	var q seatQuestion
	if len(m.Data) > maxSeatQuestion || json.Unmarshal(m.Data, &q) != nil || !relay.ValidRoom(q.Room) || q.Client == "" || len(q.Client) > 64 {
		reply(seatAnswer{Err: "bad seat question"})
		return
	}
	b.seats.mu.Lock()
	answer := b.seats.answer
	b.seats.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
	defer cancel()
	held, err := answer(ctx, q.Room, q.Client)
	if err != nil {
		reply(seatAnswer{Err: err.Error()})
		return
	}
	reply(seatAnswer{Held: held})
}

// AskSeat implements relay.SeatAsker: no claim in relay_games means no game
// runs in room; otherwise the holder answers (this node's own answer
// function when it holds the claim). Any failure is an error, so the relay
// gives a fresh id.
func (b *Broker) AskSeat(ctx context.Context, room, client string) (bool, error) {
	holder, err := b.claims.Holder(ctx, room)
	if err != nil {
		return false, fmt.Errorf("natsbroker: seat of %s: %w", client, err)
	}
	if holder == "" {
		return false, nil
	}
	if holder == b.cfg.NodeID {
		b.seats.mu.Lock()
		answer := b.seats.answer
		b.seats.mu.Unlock()
		if answer == nil {
			return false, errors.New("natsbroker: seat: no answer function")
		}
		return answer(ctx, room, client)
	}
	data, _ := json.Marshal(seatQuestion{Room: room, Client: client})
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	m, err := b.nc.RequestWithContext(ctx, seatSubject(holder), data)
	if err != nil {
		return false, fmt.Errorf("natsbroker: seat of %s from node %s: %w", client, holder, err)
	}
	var a seatAnswer
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return false, fmt.Errorf("natsbroker: seat of %s from node %s: %w", client, holder, err)
	}
	if a.Err != "" {
		return false, fmt.Errorf("natsbroker: seat of %s from node %s: %s", client, holder, a.Err)
	}
	return a.Held, nil
}
