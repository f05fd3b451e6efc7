package relay

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// RoomStats is one row of /api/rooms.
type RoomStats struct {
	Room       string `json:"room"`
	Members    int    `json:"members"`    // local members on this node
	Publishers int    `json:"publishers"` // clients that published a frame here while the room was open
	LastFrame  int64  `json:"last_frame"` // ms since the epoch of the newest frame delivered; 0 if none
}

// roomStats is what a room remembers for /api/rooms.
type roomStats struct {
	lastFrame atomic.Int64
	mu        sync.Mutex
	pubs      map[string]struct{} // bounded by maxTrackedPublishers
}

const maxTrackedPublishers = 1024

func (rs *roomStats) frame(env *Envelope) {
	rs.lastFrame.Store(env.TS)
	rs.mu.Lock()
	if rs.pubs == nil {
		rs.pubs = make(map[string]struct{})
	}
	if len(rs.pubs) < maxTrackedPublishers {
		rs.pubs[env.Client] = struct{}{}
	}
	rs.mu.Unlock()
}

// Rooms lists the rooms with local members, by name.
func (s *Server) Rooms() []RoomStats {
	s.mu.Lock()
	rooms := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	out := make([]RoomStats, 0, len(rooms))
	for _, r := range rooms {
		r.stats.mu.Lock()
		pubs := len(r.stats.pubs)
		r.stats.mu.Unlock()
		out = append(out, RoomStats{
			Room: r.name, Members: len(r.view.Load().members),
			Publishers: pubs, LastFrame: r.stats.lastFrame.Load(),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}

// serveRooms is GET /api/rooms. With tokens on it needs an admin token,
// and lists only the rooms that token's room pattern covers.
func (s *Server) serveRooms(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	rooms := s.Rooms()
	if s.auth != nil {
		c, err := s.auth.Verify(tokenFrom(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="canvasrelay"`)
			http.Error(w, err.Error()+": /api/rooms needs an admin token", http.StatusUnauthorized)
			return
		}
		if !c.Admin {
			http.Error(w, "/api/rooms needs an admin token (canvasrelay token --admin)", http.StatusForbidden)
			return
		}
		rooms = slices.DeleteFunc(rooms, func(rs RoomStats) bool { return !c.AllowsRoom(rs.Room) })
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		Node  string      `json:"node"`
		Rooms []RoomStats `json:"rooms"`
	}{s.cfg.NodeID, rooms})
}
