package relay

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// serveWS is GET /ws/{room}: admit decides, from the request alone,
// whether it may upgrade (admit.go lists every refusal with its status);
// acquire reserves a place within the caps; then the client id in force
// is granted (identity.go: never an error, at worst a fresh id) and the
// connection upgraded.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	a, no := s.gate().admit(r)
	if no != nil {
		s.refuse(w, no)
		return
	}
	rm, err := s.acquire(a.room, a.rend, a.ip)
	if err != nil {
		s.refuse(w, capRefusal(err))
		return
	}
	s.upgrade(w, r, a, rm)
}

// upgrade carries out an admission that holds a place in rm: it grants the
// client id, upgrades the connection and starts it. On failure it gives
// the place back.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, a admission, rm *room) {
	name, rend, ip, claims := a.room, a.rend, a.ip, a.claims
	// The id in force: as asked only when it holds nothing or is proven
	// (identity.go). Never an error: what cannot be granted is a fresh id.
	client, how := s.grantClient(r.Context(), rm, a.asked, a.resume, claims.Subject)
	s.grants.WithLabelValues(how).Inc()
	display := a.name
	if display == "" {
		display = "guest-" + client[:min(4, len(client))]
	}
	up := s.upPlain
	if a.proto {
		up = s.upProto
	}
	// Hijack here rather than in gws, so that every write to the socket,
	// gws's close frames included, goes through one lock.
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.releaseClient(rm, client)
		s.release(rm, nil, ip)
		s.httpError(w, http.StatusInternalServerError, "connection cannot be upgraded")
		return
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		s.releaseClient(rm, client)
		s.release(rm, nil, ip)
		s.log.Debug("hijack failed", "room", name, "err", err)
		return
	}
	nc := &lockedConn{Conn: raw, linger: min(s.cfg.ShutdownGrace, maxLinger), lingering: &s.linger}
	rd, br := newCountingReader(nc, brw.Reader)
	socket, err := up.UpgradeFromConn(nc, br, r)
	if err != nil {
		s.releaseClient(rm, client)
		s.release(rm, nil, ip)
		s.log.Debug("upgrade failed", "room", name, "err", err)
		return
	}
	c := &conn{
		srv:    s,
		ws:     socket,
		nc:     nc,
		prog:   progress{rd: rd, br: br},
		id:     s.nextID(),
		client: client,
		name:   display,
		room:   rm,
		rend:   rend,
		ip:     ip,

		patches: a.patch,
		q:       newOutQueue(s.cfg.EventQueueMaxBytes, s.cfg.QueueMaxBytes),
		start:   time.Now(),
	}
	c.canPublish, c.canSubscribe = claims.Publish, claims.Subscribe
	if claims.Expires > 0 {
		c.expires = time.Unix(claims.Expires, 0).Add(TokenLeeway)
	}
	c.limits = newConnLimits(s.cfg)
	c.log = s.log.With("room", name, "conn", c.id, "client", client)
	c.touch()
	c.prog.messageDone(time.Now())
	socket.Session().Store("conn", c)
	s.mu.Lock()
	if s.closing.Load() {
		// Shutdown began while this upgrade ran: it may have taken its
		// snapshot and begun to wait on s.conns, so this connection is not
		// started (an Add after that Wait began would be a race), only
		// told to go away.
		s.mu.Unlock()
		_ = nc.SetWriteDeadline(time.Now().Add(s.cfg.ShutdownGrace))
		_ = socket.WriteClose(CloseGoingAway, []byte("server shutting down"))
		_ = nc.Close()
		s.releaseClient(rm, client)
		s.release(rm, nil, ip)
		return
	}
	// Registered and counted under s.mu: Shutdown sets closing, then takes
	// s.mu for its snapshot before it waits, so every Add here happens
	// before that Wait, or sees closing above.
	s.pending--
	s.registry[c] = struct{}{}
	s.conns.Add(1)
	s.mu.Unlock()
	s.metrics.connections.Inc()
	go socket.ReadLoop()
}

func offersSubprotocol(h http.Header, want string) bool {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == want {
				return true
			}
		}
	}
	return false
}

// acquire reserves a place in room name for an upgrade in progress.
func (s *Server) acquire(name string, rend *rendition, ip string) (*room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[name]
	err := checkCaps(capState{
		conns: len(s.registry) + s.pending, maxConns: s.cfg.MaxConns,
		fromIP: s.perIP[ip], maxPerIP: s.cfg.MaxConnsPerIP,
		roomExists: rm != nil, rooms: len(s.rooms), maxRooms: s.cfg.MaxRooms,
		members: roomRefs(rm), maxMembers: s.cfg.MaxMembersPerRoom,
		renditionFits: rm != nil && rm.hasRoomFor(rend, s.cfg.MaxRenditionsPerRoom),
	})
	if err != nil {
		return nil, err
	}
	if rm == nil {
		rm = newRoom(s, name)
		sub, err := s.broker.Subscribe(name, rm.deliver)
		if err != nil {
			return nil, fmt.Errorf("relay: subscribe room %q: %w", name, err)
		}
		rm.sub = sub
		s.rooms[name] = rm
		s.metrics.rooms.Inc()
	}
	rm.refs++
	s.pending++
	s.perIP[ip]++
	return rm, nil
}

// roomRefs is rm's members and upgrades in progress; 0 for no room. s.mu
// is held.
func roomRefs(rm *room) int {
	if rm == nil {
		return 0
	}
	return rm.refs
}

// release gives back a place taken by acquire; c is nil when the upgrade
// failed. The last one out closes the room's subscription.
func (s *Server) release(rm *room, c *conn, ip string) {
	s.mu.Lock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	if c == nil {
		s.pending--
	} else {
		delete(s.registry, c)
	}
	rm.refs--
	var sub Subscription
	if rm.refs == 0 {
		delete(s.rooms, rm.name)
		sub = rm.sub
		s.metrics.rooms.Dec()
	}
	s.mu.Unlock()
	if sub != nil {
		_ = sub.Close()
		if rm.game != nil {
			rm.game.Close()
		}
	}
}
