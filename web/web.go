// Package web serves the canvasrelay browser pages: the landing page, the
// shared whiteboard, the mirror viewer and their static assets, all embedded
// in the binary with go:embed. Nothing is loaded from a CDN and there is no
// build step: the scripts are plain ES modules.
//
// Routes (everything else is 404; methods other than GET and HEAD get 405):
//
//	/            landing page: create or join a room, recent rooms
//	/r/{room}    whiteboard for room
//	/v/{room}    viewer (mirror) for room
//	/g/{room}    draw-and-guess game in room (see docs/game.md)
//	/static/...  scripts, styles, icon
//
// The WebSocket endpoint /ws/{room} is not served here: the relay serves it,
// and the main binary mounts both on one mux.
package web

//go:generate go test . -run TestContractJS -update

import (
	"net/http"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// ValidRoom reports whether name is a valid room name (wire.ValidRoom).
func ValidRoom(name string) bool { return wire.ValidRoom(name) }

// Handler returns the handler for the pages and assets. It is safe for
// concurrent use and holds no state besides the embedded files.
func Handler() http.Handler {
	a := mustLoadAssets()
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.page("index.html"))
	mux.Handle("GET /r/{room}", roomPage(a.page("board.html")))
	mux.Handle("GET /v/{room}", roomPage(a.page("viewer.html")))
	mux.Handle("GET /g/{room}", roomPage(a.page("game.html")))
	mux.Handle("GET /static/", a)
	mux.Handle("GET /favicon.ico", a.page("icon.svg"))
	return withSecurityHeaders(mux)
}

// roomPage answers 400 for a room name outside the contract, before the
// page (and so before any WebSocket) is served.
func roomPage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ValidRoom(r.PathValue("room")) {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "invalid room name: use "+wire.NameRule, http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}
