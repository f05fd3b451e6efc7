package client

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// NormalizeURL turns a room URL into the WebSocket URL of the room endpoint.
//
// Accepted forms (any path prefix before the last two segments is kept, for a
// relay behind a reverse proxy under a sub-path):
//
//	ws://host/ws/room    wss://host/ws/room    (as they are)
//	http://host/r/room   https://host/r/room   (the page URL → ws(s)://host/ws/room)
//	http://host/ws/room  https://host/ws/room
//
// The query is kept, the fragment dropped. The room name must be 1 to 64
// characters from A-Z a-z 0-9 . _ - as the contract says.
func NormalizeURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "http":
		u.Scheme = "ws"
	case "wss", "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("%w: %q: want ws://, wss://, http:// or https://", ErrBadURL, raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %q: no host", ErrBadURL, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %q: user info is not supported, use a token", ErrBadURL, raw)
	}
	path := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(path, "/")
	j := -1
	if i > 0 {
		j = strings.LastIndex(path[:i], "/")
	}
	if i <= 0 || j < 0 {
		return nil, fmt.Errorf("%w: %q: path must end in /ws/ROOM or /r/ROOM", ErrBadURL, raw)
	}
	prefix, kind, room := path[:j], path[j+1:i], path[i+1:]
	if kind != "ws" && kind != "r" {
		return nil, fmt.Errorf("%w: %q: path must end in /ws/ROOM or /r/ROOM", ErrBadURL, raw)
	}
	if !ValidRoom(room) {
		return nil, fmt.Errorf("%w: room %q: want %s", ErrBadURL, room, wire.NameRule)
	}
	u.Path = prefix + "/ws/" + room
	u.RawPath = ""
	u.Fragment = ""
	u.RawFragment = ""
	return u, nil
}

// RoomOf returns the room name of a URL that NormalizeURL accepted.
func RoomOf(u *url.URL) string {
	return u.Path[strings.LastIndex(u.Path, "/")+1:]
}

// ValidRoom reports whether name is a valid room name (wire.ValidRoom).
func ValidRoom(name string) bool { return wire.ValidRoom(name) }
