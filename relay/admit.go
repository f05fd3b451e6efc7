package relay

import (
	"errors"
	"net/http"
	"strings"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Admission: every check that can refuse a client at GET /ws/{room}
// happens before the upgrade, with an HTTP status, in this order:
//
//	room name            400 bad room name: …
//	method               405 use GET with a WebSocket upgrade (Allow: GET)
//	shutdown             503 server is shutting down
//	origin               403 origin not allowed
//	token, when on       401 the token's error …: pass a room token … (WWW-Authenticate: Bearer)
//	                     403 a valid token for another room, with no rights, or whose sub is not ?client=
//	?client=             400 bad client id: …
//	the token's sub      403 the token's client id is not a valid client id
//	rendition            400 bad rendition: …
//	?patches=            400 bad patches parameter: want 1 or 0 (patch.go)
//	caps (checkCaps)     503 server, room or renditions full; 429 too many from this address
//
// admit makes the first nine decisions from the request alone: no I/O,
// no state but the server's static settings and whether it is shutting
// down. The caps depend on the live counts, so they are decided by
// checkCaps where a place is reserved, under the server's lock (acquire),
// as a check apart from the reservation would race.

// gate is what admit needs of the server: its static settings, and
// whether a shutdown has begun.
type gate struct {
	origins    []originPattern // Config.AllowedOrigins; empty: the request's own host
	auth       *Verifier       // nil when tokens are off
	trustProxy bool            // Config.TrustProxy
	closing    bool
}

func (s *Server) gate() gate {
	return gate{origins: s.origins, auth: s.auth, trustProxy: s.cfg.TrustProxy, closing: s.closing.Load()}
}

// admission is an upgrade request that admit lets through.
type admission struct {
	room   string
	claims Claims     // the token's, or every right when tokens are off
	asked  string     // ?client=, a valid id or ""
	resume string     // ?resume=, checked when the id is granted (identity.go)
	name   string     // the display name asked (the token's wins), cleaned; "" for none
	rend   *rendition // nil: the original frames
	patch  bool       // ?patches=1: patches as they are (patch.go)
	ip     string     // the address counted against MaxConnsPerIP
	proto  bool       // offers the canvasrelay.v1 subprotocol
}

// refusal is an upgrade refused before it happens.
type refusal struct {
	status     int
	msg        string
	allow      string // the Allow header, for 405
	challenge  string // the WWW-Authenticate header, for 401
	authReason string // a label of canvasrelay_auth_failures_total; "" when no token failed
}

const (
	msgBadRoom     = "bad room name: use " + wire.NameRule
	msgBadMethod   = "use GET with a WebSocket upgrade"
	msgClosing     = "server is shutting down"
	msgBadOrigin   = "origin not allowed"
	msgNoToken     = ": pass a room token as ?" + wire.QueryToken + "= or Authorization: Bearer"
	msgBadClientID = "bad client id: use " + wire.NameRule
	msgBadSubject  = "the token's client id is not a valid client id"
	msgBadRend     = "bad rendition: "
	bearerRealm    = `Bearer realm="canvasrelay"`
)

// admit decides whether r may upgrade, and with what: see the table above.
func (g gate) admit(r *http.Request) (admission, *refusal) {
	name := strings.TrimPrefix(r.URL.Path, "/ws/")
	if !ValidRoom(name) {
		return admission{}, &refusal{status: http.StatusBadRequest, msg: msgBadRoom}
	}
	if r.Method != http.MethodGet {
		return admission{}, &refusal{status: http.StatusMethodNotAllowed, msg: msgBadMethod, allow: http.MethodGet}
	}
	if g.closing {
		return admission{}, &refusal{status: http.StatusServiceUnavailable, msg: msgClosing}
	}
	if !originAllowed(g.origins, r) {
		return admission{}, &refusal{status: http.StatusForbidden, msg: msgBadOrigin}
	}
	q := r.URL.Query()
	a := admission{room: name, asked: q.Get(wire.QueryClient), resume: q.Get(wire.QueryResume), claims: Claims{Publish: true, Subscribe: true}}
	if g.auth != nil {
		c, err := g.auth.Verify(tokenFrom(r))
		if err == nil {
			err = c.admits(name, a.asked)
		}
		if err != nil {
			no := &refusal{status: tokenStatus(err), msg: err.Error(), authReason: authReason(err)}
			if no.status == http.StatusUnauthorized {
				no.challenge = bearerRealm
				no.msg += msgNoToken
			}
			return admission{}, no
		}
		a.claims = c
	}
	if a.asked != "" && !wire.ValidID(a.asked) {
		return admission{}, &refusal{status: http.StatusBadRequest, msg: msgBadClientID}
	}
	if a.claims.Subject != "" && !wire.ValidID(a.claims.Subject) {
		return admission{}, &refusal{status: http.StatusForbidden, msg: msgBadSubject, authReason: "malformed"}
	}
	rend, err := parseRendition(q)
	if err != nil {
		return admission{}, &refusal{status: http.StatusBadRequest, msg: msgBadRend + err.Error()}
	}
	a.rend = rend
	if a.patch, err = parsePatches(q); err != nil {
		return admission{}, &refusal{status: http.StatusBadRequest, msg: err.Error()}
	}
	a.name = cleanName(q.Get(wire.QueryName))
	if n := cleanName(a.claims.Name); n != "" {
		a.name = n // the token's name wins over the query's
	}
	a.ip = clientIP(g.trustProxy, r)
	a.proto = offersSubprotocol(r.Header, Subprotocol)
	return a, nil
}

// capState is what acquire knows, under the server's lock, when a request
// asks for a place in a room.
type capState struct {
	conns, maxConns     int  // connections and upgrades in progress; Config.MaxConns
	fromIP, maxPerIP    int  // of them, from this address; Config.MaxConnsPerIP
	roomExists          bool // the room has members (or upgrades) on this node
	rooms, maxRooms     int  // rooms on this node; Config.MaxRooms
	members, maxMembers int  // the room's members and upgrades; Config.MaxMembersPerRoom
	renditionFits       bool // the rendition asked is one the room has, or there is room for one more
}

// checkCaps says whether one more place fits, in this order: the server,
// the address, then the rooms (for a new room) or the room and its
// renditions (for an existing one).
func checkCaps(c capState) error {
	switch {
	case c.conns >= c.maxConns:
		return ErrTooManyConns
	case c.fromIP >= c.maxPerIP:
		return ErrTooManyFromIP
	case !c.roomExists && c.rooms >= c.maxRooms:
		return ErrTooManyRooms
	case c.roomExists && c.members >= c.maxMembers:
		return ErrRoomFull
	case c.roomExists && !c.renditionFits:
		return ErrTooManyRenditions
	}
	return nil
}

// capRefusal is the answer to a place refused by acquire: 429 when the
// address has too many, else 503.
func capRefusal(err error) *refusal {
	status := http.StatusServiceUnavailable
	if errors.Is(err, ErrTooManyFromIP) {
		status = http.StatusTooManyRequests
	}
	return &refusal{status: status, msg: err.Error()}
}

// refuse answers a refused upgrade and counts it.
func (s *Server) refuse(w http.ResponseWriter, no *refusal) {
	if no.allow != "" {
		w.Header().Set("Allow", no.allow)
	}
	if no.challenge != "" {
		w.Header().Set("WWW-Authenticate", no.challenge)
	}
	if no.authReason != "" {
		s.metrics.authFailures.WithLabelValues(no.authReason).Inc()
	}
	s.httpError(w, no.status, no.msg)
}
