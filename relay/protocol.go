package relay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// The contract's names and event shapes live in package relay/wire; these
// aliases keep the relay's exported names.

// Subprotocol is echoed to clients that offer it. Clients that offer none
// are accepted too.
const Subprotocol = wire.Subprotocol

// Event types (the "type" field of every text frame).
const (
	TypeHello    = wire.TypeHello
	TypePresence = wire.TypePresence
	TypeChat     = wire.TypeChat
	TypeFrame    = wire.TypeFrame
	TypeAck      = wire.TypeAck
	TypeError    = wire.TypeError
	TypeGame     = wire.TypeGame
	TypePatch    = wire.TypePatch    // client → server: the next binary frame is a patch
	TypeKeyframe = wire.TypeKeyframe // server → client: send a full frame, the layer log is long
)

// The events the relay sends (see package wire for their fields).
type (
	HelloEvent    = wire.HelloEvent
	PresenceEvent = wire.PresenceEvent
	ChatEvent     = wire.ChatEvent
	FrameEvent    = wire.FrameEvent
	AckEvent      = wire.AckEvent
	ErrorEvent    = wire.ErrorEvent
)

// command is a client → server JSON text frame.
type command = wire.Command

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
