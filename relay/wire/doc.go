// Package wire is the canvasrelay wire contract written once: the names and
// numbers that other programs depend on (the README's protocol section says
// them in prose). The relay, relay/client, relay/game, internal/bench, the
// CLI and, through a generated module (web/static/js/contract.js, made by
// go generate ./web), the web pages all read them from here.
//
// It is a leaf: it imports only the standard library, so a client can use
// it without pulling in the server.
//
// What lives here:
//
//	types.go   the subprotocol, the "type" of every text frame, presence
//	           and game words, the query parameters of GET /ws/{room}
//	codes.go   the error codes of an error event, the close codes
//	events.go  the JSON shape of every server → client event and of the
//	           client → server command (the field names are the contract)
//	game.go    the JSON shape of the game's events
//	names.go   the room-name and client-id rules (ValidRoom, ValidID)
//	limits.go  the limits the contract states, and the defaults of the
//	           limits a hello announces (max_bytes, max_pixels, formats)
//	frames.go  the bytes of the WebSocket frames a server writes, and an
//	           image with its frame event in one buffer (EncodeImage)
//
// A name here is never renamed and a number never changed: a client we did
// not write may depend on it. New names are fine.
package wire
