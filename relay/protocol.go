package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/canvasrelay/canvasrelay/imageproc"
)

// Subprotocol is echoed to clients that offer it. Clients that offer none
// are accepted too.
const Subprotocol = "canvasrelay.v1"

// Event types (the "type" field of every text frame).
const (
	TypeHello    = "hello"
	TypePresence = "presence"
	TypeChat     = "chat"
	TypeFrame    = "frame"
	TypeAck      = "ack"
	TypeError    = "error"
	TypeGame     = "game"
	TypePatch    = "patch"    // client → server: the next binary frame is a patch (patch.go)
	TypeKeyframe = "keyframe" // server → client: send a full frame, the layer log is long
)

// HelloEvent is the first message on every connection.
type HelloEvent struct {
	Type     string   `json:"type"`
	ID       string   `json:"id"`
	Client   string   `json:"client"`
	Resume   string   `json:"resume"` // proves Client on a reconnect (identity.go)
	Room     string   `json:"room"`
	Count    int      `json:"count"`
	MaxBytes int      `json:"max_bytes"`
	MaxPix   int64    `json:"max_pixels"`
	Formats  []string `json:"formats"`
}

// PresenceEvent tells the other members that someone joined or left.
type PresenceEvent struct {
	Type   string `json:"type"`
	Count  int    `json:"count"`
	Event  string `json:"event"` // "join" or "leave"
	Client string `json:"client"`
	Name   string `json:"name"`
}

// ChatEvent is one chat line.
type ChatEvent struct {
	Type   string `json:"type"`
	Client string `json:"client"`
	Name   string `json:"name"`
	Text   string `json:"text"`
	TS     int64  `json:"ts"`
}

// FrameEvent describes the binary frame that follows it.
type FrameEvent struct {
	Type   string `json:"type"`
	Client string `json:"client"`
	Name   string `json:"name"`
	Seq    uint64 `json:"seq"`
	Format string `json:"format"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int    `json:"bytes"`
	TS     int64  `json:"ts"`
	// A patch has Patch, X and Y (and Width, Height are the patch's);
	// a full frame has none of them.
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

// ErrorEvent reports a refused frame or command. Seq is set when it concerns
// a binary frame.
type ErrorEvent struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Seq     uint64 `json:"seq,omitempty"`
}

// command is a client → server JSON text frame.
type command struct {
	Type string `json:"type"`
	Text string `json:"text"`
	// Game commands.
	Action  string `json:"action"`
	Rounds  *int   `json:"rounds"`
	Seconds *int   `json:"seconds"`
	// Patch command: kept raw, checked by parsePatch.
	X *json.RawMessage `json:"x"`
	Y *json.RawMessage `json:"y"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings and numbers are marshalled here.
		panic(fmt.Sprintf("relay: marshal %T: %v", v, err))
	}
	return b
}

func nowMillis() int64 { return time.Now().UnixMilli() }

func errorEvent(code, msg string, seq uint64) []byte {
	return mustJSON(ErrorEvent{Type: TypeError, Code: code, Message: msg, Seq: seq})
}

func frameEvent(client, name string, seq uint64, info imageproc.Info, ts int64) []byte {
	return mustJSON(FrameEvent{
		Type: TypeFrame, Client: client, Name: name, Seq: seq,
		Format: string(info.Format), Width: info.Width, Height: info.Height,
		Bytes: info.Bytes, TS: ts,
	})
}

// parseText turns a client text frame into a command. Text that is not JSON
// is chat; JSON that is not a known command is a bad request.
func parseText(b []byte) (command, error) {
	if !utf8.Valid(b) {
		return command{}, errInvalidUTF8
	}
	t := bytes.TrimSpace(b)
	if !json.Valid(t) {
		return command{Type: TypeChat, Text: string(b)}, nil
	}
	var cmd command
	if len(t) == 0 || t[0] != '{' {
		return command{}, fmt.Errorf("%w: JSON text must be an object with a \"type\"", errBadCommand)
	}
	if err := json.Unmarshal(t, &cmd); err != nil {
		return command{}, fmt.Errorf("%w: %v", errBadCommand, err)
	}
	switch cmd.Type {
	case TypeChat:
		return cmd, nil
	case TypeGame, TypePatch:
		return cmd, nil
	case "":
		return command{}, fmt.Errorf("%w: missing \"type\"", errBadCommand)
	default:
		return command{}, fmt.Errorf("%w: unknown type %q", errBadCommand, cmd.Type)
	}
}
