package relay

import (
	"sync"
	"sync/atomic"
)

// room is a room with local members on this server.
type room struct {
	// Static after construction.
	name string
	srv  *Server

	// Guarded by Server.mu.
	refs int          // members and pending upgrades holding the room
	sub  Subscription // the broker feed, closed when refs reaches 0

	// presenceMu serializes joins and leaves, so that every member sees the
	// presence counts in the order they happened.
	presenceMu sync.Mutex

	mu      sync.Mutex              // guards writes of members
	members atomic.Pointer[[]*conn] // copy-on-write snapshot, read without a lock by deliver
}

func newRoom(s *Server, name string) *room {
	r := &room{name: name, srv: s}
	empty := []*conn{}
	r.members.Store(&empty)
	return r
}

// deliver is the room's broker callback: it queues env for every local
// member except its sender. It never blocks.
func (r *room) deliver(env *Envelope) {
	for _, c := range *r.members.Load() {
		if c.id != env.Origin {
			c.deliver(env, false)
		}
	}
}

func (r *room) add(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.members.Load()
	next := make([]*conn, len(old), len(old)+1)
	copy(next, old)
	next = append(next, c)
	r.members.Store(&next)
}

func (r *room) remove(c *conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.members.Load()
	next := make([]*conn, 0, len(old))
	found := false
	for _, m := range old {
		if m == c {
			found = true
			continue
		}
		next = append(next, m)
	}
	r.members.Store(&next)
	return found
}

// join makes c a member: c gets hello, then the retained layers, then live
// traffic; the others get a presence event.
func (r *room) join(c *conn) error {
	r.presenceMu.Lock()
	defer r.presenceMu.Unlock()
	r.add(c) // live traffic queues up behind hello: the queue is not started yet
	s := r.srv
	count, err := s.broker.Join(s.ctx, r.name, Member{Conn: c.id, Client: c.client, Name: c.name})
	if err != nil {
		r.remove(c)
		return err
	}
	hello := mustJSON(HelloEvent{
		Type: TypeHello, ID: c.id, Client: c.client, Room: r.name, Count: count,
		MaxBytes: s.cfg.MaxBytes, MaxPix: s.cfg.MaxPixels, Formats: s.formatNames,
	})
	c.push(outItem{wire: encodeFrame(opText, hello), size: len(hello) + itemOverhead}, true)
	layers, err := s.broker.Layers(s.ctx, r.name)
	if err != nil {
		c.log.Warn("late joiner gets no layers", "err", err)
	}
	for _, env := range layers {
		c.deliver(env, true)
	}
	if c.q.start() {
		go c.writeLoop()
	}
	return r.publishPresence(c, "join", count)
}

// leave removes c and tells the others.
func (r *room) leave(c *conn) {
	r.presenceMu.Lock()
	defer r.presenceMu.Unlock()
	if !r.remove(c) {
		return
	}
	s := r.srv
	count, err := s.broker.Leave(s.ctx, r.name, Member{Conn: c.id, Client: c.client, Name: c.name})
	if err != nil {
		c.log.Warn("presence leave", "err", err)
		return
	}
	if err := r.publishPresence(c, "leave", count); err != nil {
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
