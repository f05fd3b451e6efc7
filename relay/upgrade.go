package relay

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// serveWS is GET /ws/{room}: every check that can refuse a client happens
// here, with an HTTP status, before the upgrade: room name (400), method
// (405), shutdown (503), origin (403), token (401; 403 for another room,
// no rights, or a ?client= other than the token's sub), client id and
// rendition (400), capacity (429/503). Then the client id in force is
// granted (identity.go): never an error, at worst a fresh id.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/ws/")
	if !ValidRoom(name) {
		s.httpError(w, http.StatusBadRequest, "bad room name: use 1 to 64 characters from A-Z a-z 0-9 . _ -")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.httpError(w, http.StatusMethodNotAllowed, "use GET with a WebSocket upgrade")
		return
	}
	if s.closing.Load() {
		s.httpError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	if !s.originAllowed(r) {
		s.httpError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	q := r.URL.Query()
	claims := Claims{Publish: true, Subscribe: true}
	if s.auth != nil {
		c, err := s.auth.Verify(tokenFrom(r))
		if err == nil {
			err = c.admits(name, q.Get("client"))
		}
		if err != nil {
			s.metrics.authFailures.WithLabelValues(authReason(err)).Inc()
			status, msg := tokenStatus(err), err.Error()
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="canvasrelay"`)
				msg += ": pass a room token as ?token= or Authorization: Bearer"
			}
			s.httpError(w, status, msg)
			return
		}
		claims = c
	}
	asked := q.Get("client")
	if asked != "" && !validToken(asked, 64) {
		s.httpError(w, http.StatusBadRequest, "bad client id: use 1 to 64 characters from A-Z a-z 0-9 . _ -")
		return
	}
	if claims.Subject != "" && !validToken(claims.Subject, 64) {
		s.metrics.authFailures.WithLabelValues("malformed").Inc()
		s.httpError(w, http.StatusForbidden, "the token's client id is not a valid client id")
		return
	}
	rend, err := parseRendition(q)
	if err != nil {
		s.httpError(w, http.StatusBadRequest, "bad rendition: "+err.Error())
		return
	}
	patches, err := parsePatches(q)
	if err != nil {
		s.httpError(w, http.StatusBadRequest, err.Error())
		return
	}

	ip := s.clientIP(r)
	rm, err := s.acquire(name, rend, ip)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, ErrTooManyFromIP) {
			status = http.StatusTooManyRequests
		}
		s.httpError(w, status, err.Error())
		return
	}
	// The id in force: as asked only when it holds nothing or is proven
	// (identity.go). Never an error: what cannot be granted is a fresh id.
	client, how := s.grantClient(r.Context(), rm, asked, q.Get("resume"), claims.Subject)
	s.grants.WithLabelValues(how).Inc()
	display := cleanName(q.Get("name"))
	if n := cleanName(claims.Name); n != "" {
		display = n // the token's name wins over the query's
	}
	if display == "" {
		display = "guest-" + client[:min(4, len(client))]
	}
	up := s.upPlain
	if offersSubprotocol(r.Header, Subprotocol) {
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

		patches: patches,
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
	s.pending--
	s.registry[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.connections.Inc()
	s.conns.Add(1)
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
	if len(s.registry)+s.pending >= s.cfg.MaxConns {
		return nil, ErrTooManyConns
	}
	if s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return nil, ErrTooManyFromIP
	}
	rm := s.rooms[name]
	if rm == nil {
		if len(s.rooms) >= s.cfg.MaxRooms {
			return nil, ErrTooManyRooms
		}
		rm = newRoom(s, name)
		sub, err := s.broker.Subscribe(name, rm.deliver)
		if err != nil {
			return nil, fmt.Errorf("relay: subscribe room %q: %w", name, err)
		}
		rm.sub = sub
		s.rooms[name] = rm
		s.metrics.rooms.Inc()
	} else if rm.refs >= s.cfg.MaxMembersPerRoom {
		return nil, ErrRoomFull
	} else if !rm.hasRoomFor(rend, s.cfg.MaxRenditionsPerRoom) {
		return nil, ErrTooManyRenditions
	}
	rm.refs++
	s.pending++
	s.perIP[ip]++
	return rm, nil
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
