package client

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Event is one text event from the server. The concrete types are *Hello,
// *Presence, *Chat, *FrameInfo, *Ack, *ErrorEvent, *Game and *Unknown (any
// type this client does not know, kept as raw JSON so that a newer server
// loses nothing).
type Event interface {
	// EventType is the contract's `type` field.
	EventType() string
	// RawJSON is the event exactly as the server sent it (a private copy).
	RawJSON() json.RawMessage
}

// raw carries the event's own bytes; embedded in every event type.
type raw struct{ json json.RawMessage }

func (r raw) RawJSON() json.RawMessage { return r.json }

// String prints the event as the server sent it.
func (r raw) String() string { return string(r.json) }

// Hello is the first event on every connection.
type Hello struct {
	raw
	ID        string   `json:"id"`     // this connection's server-assigned id
	Client    string   `json:"client"` // the client id in force (made up by the server if none was given, or if the one asked for is held)
	Resume    string   `json:"resume"` // proves Client on a reconnect (sent back as the resume query parameter)
	Room      string   `json:"room"`
	Count     int      `json:"count"` // members now in the room, this one included
	MaxBytes  int      `json:"max_bytes"`
	MaxPixels int64    `json:"max_pixels"`
	Formats   []string `json:"formats"`
}

// Presence says a member joined or left. Count is the number after the event.
type Presence struct {
	raw
	Count  int    `json:"count"`
	Event  string `json:"event"` // "join" or "leave"
	Client string `json:"client"`
	Name   string `json:"name"`
}

// Chat is one chat line from another member.
type Chat struct {
	raw
	Client string `json:"client"`
	Name   string `json:"name"`
	Text   string `json:"text"`
	TS     int64  `json:"ts"` // ms since the Unix epoch
}

// FrameInfo describes the binary frame that follows it (see Frame).
type FrameInfo struct {
	raw
	Client string `json:"client"` // who sent it
	Name   string `json:"name"`
	Seq    int64  `json:"seq"` // the sender's own seq, the one in its ack
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int    `json:"bytes"`
	TS     int64  `json:"ts"` // ms since the Unix epoch
	// Patch is set on a patch: an image that replaces the rectangle at
	// (X, Y) of the sender's picture, Width × Height. The Client applies
	// patches itself (see Frame.Patch); a Frame's Info never has it.
	Patch bool `json:"patch,omitempty"`
	X     int  `json:"x,omitempty"`
	Y     int  `json:"y,omitempty"`
}

// Ack acknowledges one accepted binary frame of this connection.
type Ack struct {
	raw
	Seq    int64  `json:"seq"`
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int    `json:"bytes"`
}

// ErrorEvent is the server's `error` event. Seq is 0 when it concerns no frame.
// Errors that answer a frame sent through this Client are turned into
// *RejectError for the sender and do not appear in Events.
type ErrorEvent struct {
	raw
	Code    string `json:"code"`
	Message string `json:"message"`
	Seq     int64  `json:"seq,omitempty"`
}

// Player is one entry of a game's `players`.
type Player struct {
	Client string `json:"client"`
	Name   string `json:"name"`
}

// Score is one entry of a game's `scores`.
type Score struct {
	Client string `json:"client"`
	Name   string `json:"name"`
	Score  int    `json:"score"`
}

// Game is any `{"type":"game","event":…}` event; which fields are set depends
// on Event (start, turn, guessed, reveal, over).
type Game struct {
	raw
	Event   string   `json:"event"`
	By      string   `json:"by,omitempty"`
	Rounds  int      `json:"rounds,omitempty"`
	Seconds int      `json:"seconds,omitempty"`
	Players []Player `json:"players,omitempty"`
	Turn    int      `json:"turn,omitempty"`
	Turns   int      `json:"turns,omitempty"`
	Drawer  string   `json:"drawer,omitempty"`
	Name    string   `json:"name,omitempty"`
	Hint    string   `json:"hint,omitempty"`
	Length  int      `json:"length,omitempty"`
	EndsAt  int64    `json:"ends_at,omitempty"`
	Word    string   `json:"word,omitempty"` // only ever sent to the drawer (turn) and in reveal
	Client  string   `json:"client,omitempty"`
	Points  int      `json:"points,omitempty"`
	Scores  []Score  `json:"scores,omitempty"`
	Winner  string   `json:"winner,omitempty"`
}

// Unknown is an event of a type this client does not know.
type Unknown struct {
	raw
	Type string
}

func (*Hello) EventType() string      { return wire.TypeHello }
func (*Presence) EventType() string   { return wire.TypePresence }
func (*Chat) EventType() string       { return wire.TypeChat }
func (*FrameInfo) EventType() string  { return wire.TypeFrame }
func (*Ack) EventType() string        { return wire.TypeAck }
func (*ErrorEvent) EventType() string { return wire.TypeError }
func (*Game) EventType() string       { return wire.TypeGame }
func (u *Unknown) EventType() string  { return u.Type }

// Frame is a `frame` event paired with the binary frame that followed it.
// Data is the client's own copy. Info is zero (Info.Format == "") for a binary
// frame that came with no `frame` event before it.
//
// When the relay sent a patch, Data is the sender's whole picture with the
// patch drawn on it, as PNG, Info describes that picture, and Patch holds
// the patch as it came.
type Frame struct {
	Info     FrameInfo
	Data     []byte
	Received time.Time
	Patch    *Patch // nil for a full frame
}

// ParseEvent decodes one text event. The bytes are kept (not copied) as the
// event's RawJSON, so pass a private copy.
func ParseEvent(b []byte) (Event, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("parse event: %w", err)
	}
	var ev Event
	switch head.Type {
	case wire.TypeHello:
		ev = &Hello{raw: raw{b}}
	case wire.TypePresence:
		ev = &Presence{raw: raw{b}}
	case wire.TypeChat:
		ev = &Chat{raw: raw{b}}
	case wire.TypeFrame:
		ev = &FrameInfo{raw: raw{b}}
	case wire.TypeAck:
		ev = &Ack{raw: raw{b}}
	case wire.TypeError:
		ev = &ErrorEvent{raw: raw{b}}
	case wire.TypeGame:
		ev = &Game{raw: raw{b}}
	case "":
		return nil, fmt.Errorf("parse event: no type in %.80q", b)
	default:
		return &Unknown{raw: raw{b}, Type: head.Type}, nil
	}
	if err := json.Unmarshal(b, ev); err != nil {
		return nil, fmt.Errorf("parse %s event: %w", head.Type, err)
	}
	return ev, nil
}
