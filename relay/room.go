package relay

import (
	"sync"
	"sync/atomic"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// room is a room with local members on this server.
type room struct {
	// Static after construction.
	name string
	srv  *Server

	game  Game // nil when games are off; static after construction
	stats roomStats

	// Guarded by Server.mu.
	refs int          // members and pending upgrades holding the room
	sub  Subscription // the broker feed, closed when refs reaches 0

	// presenceMu serializes joins and leaves, so that every member sees the
	// presence counts in the order they happened.
	presenceMu sync.Mutex

	mu   sync.Mutex               // guards writes of view
	view atomic.Pointer[roomView] // copy-on-write snapshot, read without a lock by deliver
}

// roomView is an immutable snapshot of a room's local members.
type roomView struct {
	members []*conn
	rends   []*rendition // the distinct renditions members asked for
}

func newRoom(s *Server, name string) *room {
	r := &room{name: name, srv: s}
	r.view.Store(&roomView{})
	if s.cfg.Game != nil {
		r.game = s.cfg.Game(gameRoom{r})
	}
	return r
}

// deliver is the room's broker callback: it queues env for every local
// member except its sender (or for the one connection env.ToConn names),
// and schedules the renditions members asked for. A game input goes to the
// room's game only, and the game sees each game event first (see
// Game.Input, Game.Observe). It never blocks.
func (r *room) deliver(env *Envelope) {
	switch env.Kind {
	case KindGameInput:
		if r.game != nil {
			r.game.Input(env.Event)
		}
		return // never for members
	case KindGame:
		if r.game != nil {
			r.game.Observe(env.Event)
		}
	}
	v := r.view.Load()
	if env.Kind == KindFrame && env.Patch != nil {
		r.deliverPatch(env, v) // compose.go
		return
	}
	// A text event is encoded once for every member (a frame carries its
	// encoding); Private only if someone gets it.
	var wire, privWire []byte
	if env.Kind != KindFrame {
		wire = env.wireBytes()
	}
	for _, c := range v.members {
		if env.ToConn != "" {
			// For one connection only: a game's answer to it, which
			// reaches it whatever its rights (like any reply).
			if env.ToConn == c.id {
				c.deliver(env, wire)
			}
			continue
		}
		if c.id == env.Origin || !c.canSubscribe || !env.addressedTo(c.client, c.plays()) || (c.rend != nil && env.Kind == KindFrame) {
			continue
		}
		if env.PrivateFor != "" && env.PrivateFor == c.client && c.plays() {
			if privWire == nil {
				privWire = encodeFrame(opText, env.Private)
			}
			c.push(outItem{wire: privWire, size: len(env.Private) + itemOverhead}, false)
			continue
		}
		c.deliver(env, wire)
	}
	if env.Kind == KindFrame {
		r.stats.frame(env)
		if len(v.rends) == 0 {
			return
		}
		// One header read per frame (frames from other nodes carry no
		// Info), shared by every rendition.
		info, err := imageproc.Inspect(env.Image, r.srv.limits)
		if err != nil {
			return
		}
		for _, rd := range v.rends {
			r.renderFor(env, info, rd)
		}
	}
}

// hasRoomFor reports whether a member asking for rd fits under max
// distinct renditions.
func (r *room) hasRoomFor(rd *rendition, max int) bool {
	if rd == nil {
		return true
	}
	v := r.view.Load()
	for _, x := range v.rends {
		if x.key == rd.key {
			return true
		}
	}
	return len(v.rends) < max
}

func (r *room) add(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.view.Load()
	next := &roomView{members: append(old.members[:len(old.members):len(old.members)], c), rends: old.rends}
	next.rends = renditionsOf(next.members)
	r.view.Store(next)
}

func (r *room) remove(c *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.view.Load()
	next := &roomView{members: make([]*conn, 0, len(old.members))}
	found := false
	for _, m := range old.members {
		if m == c {
			found = true
			continue
		}
		next.members = append(next.members, m)
	}
	next.rends = renditionsOf(next.members)
	r.view.Store(next)
	return found
}

// renditionsOf lists the distinct renditions of members.
func renditionsOf(members []*conn) []*rendition {
	var out []*rendition
	for _, c := range members {
		if c.rend == nil {
			continue
		}
		dup := false
		for _, x := range out {
			if x.key == c.rend.key {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, c.rend)
		}
	}
	return out
}

// join makes c a member: c gets hello, then the retained layers (one at a
// time, as its writer drains them), then live traffic; the others get a
// presence event.
func (r *room) join(c *conn) error {
	r.presenceMu.Lock()
	defer r.presenceMu.Unlock()
	r.add(c) // live traffic queues up behind hello: the queue is not started yet
	s := r.srv
	count, err := s.broker.Join(s.ctx, r.name, c.member())
	if err != nil {
		r.remove(c)
		return err
	}
	hello := mustJSON(HelloEvent{
		Type: TypeHello, ID: c.id, Client: c.client, Resume: s.resumeFor(c.client), Room: r.name, Count: count,
		MaxBytes: s.cfg.MaxBytes, MaxPix: s.cfg.MaxPixels, Formats: s.formatNames,
	})
	c.push(outItem{wire: encodeFrame(opText, hello), size: len(hello) + itemOverhead}, true)
	layers, err := s.broker.Layers(s.ctx, r.name)
	if err != nil {
		c.log.Warn("late joiner gets no layers", "err", err)
	}
	if c.canSubscribe {
		layers = newestWithin(layers, s.cfg.RoomRetainedBytes)
		c.joinLayers(layers) // written as the writer drains them, after hello
	}
	if r.game != nil {
		r.game.Joined(c.player())
	}
	if c.q.start() {
		go c.writeLoop()
	}
	return r.publishPresence(c, wire.PresenceJoin, count)
}

// newestWithin keeps the newest layers (the end of the list) whose sizes
// add up to at most budget, in whole layer logs (a log starts at each full
// frame). The in-memory broker keeps a room within it already; a cluster
// broker's stream may hold more.
func newestWithin(layers []*Envelope, budget int64) []*Envelope {
	var sum int64
	for i := len(layers) - 1; i >= 0; i-- {
		if sum += int64(layers[i].size()); sum > budget {
			j := i + 1
			for j < len(layers) && layers[j].Patch != nil {
				j++ // a log cut short cannot be drawn: drop its patches too
			}
			return layers[j:]
		}
	}
	return layers
}

// leave removes c and tells the others.
func (r *room) leave(c *conn) {
	r.presenceMu.Lock()
	defer r.presenceMu.Unlock()
	if !r.remove(c) {
		return
	}
	s := r.srv
	if r.game != nil {
		defer r.game.Left(c.player())
	}
	count, err := s.broker.Leave(s.ctx, r.name, c.member())
	if err != nil {
		c.log.Warn("presence leave", "err", err)
		return
	}
	if err := r.publishPresence(c, wire.PresenceLeave, count); err != nil {
		c.log.Warn("publish leave", "err", err)
	}
}

func (r *room) publishPresence(c *conn, event string, count int) error {
	env := &Envelope{
		ID:     r.srv.nextID(),
		Kind:   KindPresence,
		Room:   r.name,
		Origin: c.id,
		Client: c.client,
		TS:     nowMillis(),
		Event: mustJSON(PresenceEvent{
			Type: TypePresence, Count: count, Event: event, Client: c.client, Name: c.name,
		}),
	}
	return r.srv.broker.Publish(r.srv.ctx, env)
}
