package game

import (
	"sync"

	"github.com/canvasrelay/canvasrelay/relay"
)

// Effects: the referee decides under its lock and acts outside it.
//
// Every change to a game happens under referee.mu, and what it means for
// the room (events to send, chat to relay, layers to clear) is not done
// there: it is queued as effects, in the order of the changes, and carried
// out once mu is released (flush). So no room call that acts, and none of
// the network calls behind them (a NATS publish, a stream purge of up to
// the broker's request timeout), ever runs under the game's lock (reading
// the room's members, an in-memory snapshot, still does): a frame's
// AllowFrame, which takes mu, is never held up by a turn clearing the
// room's layers.
//
// The effects leave in the order they were decided: one goroutine at a
// time carries them out (flushing); an effect queued while another
// goroutine flushes is carried out by that goroutine, right after the ones
// before it, and flush returns at once. flushWait instead waits until the
// effects queued so far are carried out: Joined uses it, so that a late
// joiner's start and turn are queued before its writer starts, right after
// its hello and layers. The queue is bounded: it only grows while a flush
// waits on the broker (at most its request timeout), from inputs that are
// rate limited, and past maxPending effects a new one is dropped and
// logged.

// maxPending bounds the effects waiting to be carried out.
const maxPending = 4096

type effectOp uint8

const (
	opBroadcast   effectOp = iota + 1 // event to every member
	opSplit                           // event to every member, private to client's seated connections
	opSendTo                          // event to one connection
	opRelayChat                       // a chat line from p to the seated connections of to (nil: everyone)
	opClearLayers                     // forget the room's retained layers and queued frames
)

// effect is one thing the referee decided to do to its room.
type effect struct {
	op      effectOp
	event   []byte       // broadcast, split (the public copy), sendTo
	private []byte       // split: the copy for client
	client  string       // split
	conn    string       // sendTo
	from    relay.Player // relayChat
	text    string       // relayChat
	to      []string     // relayChat
}

// outbox queues a referee's effects and carries them out in order.
type outbox struct {
	room relay.GameRoom // static

	mu       sync.Mutex // guards below; taken after referee.mu, never the other way
	done     sync.Cond  // on mu: signalled as finished grows
	pending  []effect
	flushing bool   // a goroutine is carrying pending out
	queued   uint64 // effects ever queued, the dropped ones included
	finished uint64 // of those, the ones carried out or dropped
	dropped  int    // effects dropped over maxPending, not yet logged
}

func newOutbox(room relay.GameRoom) *outbox {
	o := &outbox{room: room}
	o.done.L = &o.mu
	return o
}

// emit queues e. The referee calls it holding its mu.
func (o *outbox) emit(e effect) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queued++
	if len(o.pending) >= maxPending {
		o.dropped++
		o.finished++
		return
	}
	o.pending = append(o.pending, e)
}

// flushWait is flush, then waits until every effect queued before it was
// called has been carried out (by this goroutine or the one flushing). It
// must not be called while carrying out effects (from a room call the
// outbox makes): it would wait on itself.
func (o *outbox) flushWait() (dropped int) {
	o.mu.Lock()
	target := o.queued
	o.mu.Unlock()
	dropped = o.flush()
	o.mu.Lock()
	for o.finished < target {
		o.done.Wait()
	}
	o.mu.Unlock()
	return dropped
}

// flush carries out the pending effects, unless another goroutine is at
// it (which then carries these out too). It must be called without the
// referee's mu. It returns how many effects were dropped over maxPending
// since the last flush, for the caller to log.
func (o *outbox) flush() (dropped int) {
	o.mu.Lock()
	if o.flushing {
		o.mu.Unlock()
		return 0
	}
	o.flushing = true
	for len(o.pending) > 0 {
		batch := o.pending
		o.pending = nil
		o.mu.Unlock()
		for _, e := range batch {
			o.apply(e)
		}
		o.mu.Lock()
		o.finished += uint64(len(batch))
		o.done.Broadcast()
	}
	o.flushing = false
	dropped, o.dropped = o.dropped, 0
	o.mu.Unlock()
	return dropped
}

func (o *outbox) apply(e effect) {
	switch e.op {
	case opBroadcast:
		o.room.Broadcast(e.event)
	case opSplit:
		o.room.BroadcastSplit(e.event, e.client, e.private)
	case opSendTo:
		o.room.SendTo(e.conn, e.event)
	case opRelayChat:
		o.room.RelayChat(e.from, e.text, e.to)
	case opClearLayers:
		o.room.ClearLayers()
	}
}
