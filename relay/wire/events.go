package wire

import "encoding/json"

// The JSON shape of each text frame. The struct tags are the contract's
// field names; the relay marshals these types, and relay/client's event
// types are checked against them by a test (their tags must match).

// HelloEvent is the first message on every connection.
type HelloEvent struct {
	Type     string   `json:"type"`
	ID       string   `json:"id"`     // this connection's server-assigned id
	Client   string   `json:"client"` // the client id in force
	Resume   string   `json:"resume"` // proves Client on a reconnect (at most MaxResumeLen)
	Room     string   `json:"room"`
	Count    int      `json:"count"` // members now in the room, this one included
	MaxBytes int      `json:"max_bytes"`
	MaxPix   int64    `json:"max_pixels"`
	Formats  []string `json:"formats"`
}

// PresenceEvent tells the other members that someone joined or left.
type PresenceEvent struct {
	Type   string `json:"type"`
	Count  int    `json:"count"` // members after the event
	Event  string `json:"event"` // PresenceJoin or PresenceLeave
	Client string `json:"client"`
	Name   string `json:"name"`
}

// ChatEvent is one chat line.
type ChatEvent struct {
	Type   string `json:"type"`
	Client string `json:"client"`
	Name   string `json:"name"`
	Text   string `json:"text"`
	TS     int64  `json:"ts"` // ms since the Unix epoch
}

// FrameEvent describes the binary frame that follows it.
type FrameEvent struct {
	Type   string `json:"type"`
	Client string `json:"client"` // who sent it
	Name   string `json:"name"`
	Seq    uint64 `json:"seq"` // the sender's own seq, the one in its ack
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int    `json:"bytes"`
	TS     int64  `json:"ts"` // ms since the Unix epoch
	// v1.1 patch frames: a patch has Patch, X and Y (and Width, Height
	// are the patch's); a full frame has none of them.
	Patch bool `json:"patch,omitempty"`
	X     *int `json:"x,omitempty"`
	Y     *int `json:"y,omitempty"`
}

// AckEvent acknowledges one accepted binary frame.
type AckEvent struct {
	Type   string `json:"type"`
	Seq    uint64 `json:"seq"`
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int    `json:"bytes"`
}

// ErrorEvent reports a refused frame or command. Seq is set when it
// concerns a binary frame.
type ErrorEvent struct {
	Type    string `json:"type"`
	Code    string `json:"code"` // one of Codes
	Message string `json:"message"`
	Seq     uint64 `json:"seq,omitempty"`
}

// Command is a client → server JSON text frame: chat, a game command, or
// (v1.1) a patch command. Text that is not JSON at all is chat text.
type Command struct {
	Type string `json:"type"`
	Text string `json:"text"` // chat
	// Game commands.
	Action  string `json:"action"`
	Rounds  *int   `json:"rounds"`
	Seconds *int   `json:"seconds"`
	// v1.1 patch frames: where the next binary frame goes. Kept raw, so
	// that the relay can say what is wrong with a value.
	X *json.RawMessage `json:"x"`
	Y *json.RawMessage `json:"y"`
}
