package wire

// Subprotocol is echoed to clients that offer it (Sec-WebSocket-Protocol).
// Clients that offer none are accepted too.
const Subprotocol = "canvasrelay.v1"

// Types: the "type" field of every JSON text frame, in both directions.
const (
	TypeHello    = "hello"    // server → client, first on every connection
	TypePresence = "presence" // server → client, a member joined or left
	TypeChat     = "chat"     // both ways: a chat line
	TypeFrame    = "frame"    // server → client, describes the binary frame after it
	TypeAck      = "ack"      // server → client, receipt of one accepted binary frame
	TypeError    = "error"    // server → client, a refused frame or command
	TypeGame     = "game"     // both ways: game commands and events

	// v1.1 patch frames.
	TypePatch    = "patch"    // client → server: the next binary frame is a patch at x, y
	TypeKeyframe = "keyframe" // server → client: please send a fresh full frame
)

// Presence words: the "event" field of a presence event.
const (
	PresenceJoin  = "join"
	PresenceLeave = "leave"
)

// Game events: the "event" field of {"type":"game"} from the server.
const (
	GameStart   = "start"
	GameTurn    = "turn"
	GameGuessed = "guessed"
	GameReveal  = "reveal"
	GameOver    = "over"
)

// Game actions: the "action" field of {"type":"game"} from a client.
const (
	ActionStart = "start"
	ActionStop  = "stop"
)

// Query parameters of GET /ws/{room}.
const (
	QueryName   = "name"   // display name
	QueryClient = "client" // the stable client id asked for
	QueryResume = "resume" // proof of ownership of client (hello.resume)
	QueryToken  = "token"  // a room token (or Authorization: Bearer)

	// Renditions: frames re-encoded to a subscriber's needs.
	QueryMaxWidth  = "max_width"
	QueryMaxHeight = "max_height"
	QueryFormat    = "format" // auto, png, jpeg or original
	QueryQuality   = "quality"

	// v1.1 patch frames: a subscriber that applies patches itself.
	QueryPatches = "patches" // "1"
)

// Image format words: hello.formats, frame.format, ack.format.
const (
	FormatPNG  = "png"
	FormatJPEG = "jpeg"
	FormatGIF  = "gif"
	FormatWebP = "webp"
)
