package natsbroker

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/canvasrelay/canvasrelay/relay"
)

// Subjects. A room or client id becomes one subject token: bytes other than
// A-Z a-z 0-9 _ - (a room may contain dots) are escaped as =XX, which keeps
// tokens valid for subjects and KV keys and is reversible.
const (
	subjectPrefix  = "relay.v1.room."
	streamSubjects = subjectPrefix + "*.frame.*"
)

// frameSubject carries client's frames in room into the layer stream,
// which keeps its layer log there (a full frame and the patches since). No
// node subscribes to it: the stream republishes each frame it stored on
// liveSubject.
func frameSubject(room, client string) string {
	return subjectPrefix + escapeToken(room) + ".frame." + escapeToken(client)
}

// The stream republishes each frame it stored on
// relay.v1.live.<room>.<client>, with its stream sequence and the one
// before it on its subject (Nats-Sequence, Nats-Last-Sequence): nodes get
// a frame only once it is in the layer log, in the log's order.
const (
	livePrefix      = "relay.v1.live."
	liveDestination = livePrefix + "{{wildcard(1)}}.{{wildcard(2)}}"
)

// liveSubject matches the republished frames of room.
func liveSubject(room string) string { return livePrefix + escapeToken(room) + ".*" }

// eventSubject carries the room's chat and game events.
func eventSubject(room string) string { return subjectPrefix + escapeToken(room) + ".event" }

// layerFilter matches the frame subjects of a room.
func layerFilter(room string) string { return subjectPrefix + escapeToken(room) + ".frame.*" }

// presenceKey is the KV key of node's members in room.
func presenceKey(room, node string) string { return escapeToken(room) + "." + escapeToken(node) }

// splitPresenceKey is the inverse of presenceKey.
func splitPresenceKey(key string) (room, node string, ok bool) {
	r, n, ok := strings.Cut(key, ".")
	if !ok || strings.Contains(n, ".") {
		return "", "", false
	}
	room, err1 := unescapeToken(r)
	node, err2 := unescapeToken(n)
	return room, node, err1 == nil && err2 == nil && room != "" && node != ""
}

func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func validNodeID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789ABCDEF"

func escapeToken(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainByte(c) {
			b = append(b, c)
		} else {
			b = append(b, '=', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

func unescapeToken(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("%w: bad escape in %q", ErrBadMessage, s)
		}
		hi, lo := strings.IndexByte(hexDigits, s[i+1]), strings.IndexByte(hexDigits, s[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: bad escape in %q", ErrBadMessage, s)
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), nil
}

// Message layout on NATS (all integers are varints):
//
//	version | kind | len id | id | len origin | origin | len client | client
//	| ts | seq | len event | event | to | len privateFor | privateFor
//	| len private | private | [len toConn | toConn] | [x | y | width | height]
//	| image (the rest; frames only)
//
// to is the number of addressed clients plus one (0: everyone), then each
// as len | client. toConn is there from version 2; the patch rectangle
// only in version 3, which is for patches only (a node of an older version
// drops a patch as a bad message rather than take it for a full frame).
//
// The room is the subject's.
//
// A message is written as version 1 unless it needs version 2 (an
// envelope for one connection, or a game input), so that nodes of the
// version before games crossed nodes still read everything else: a
// cluster can be upgraded node by node.
const (
	codecVersion  = 1
	codecVersion2 = 2
	codecVersion3 = 3
)

func encodeEnvelope(env *relay.Envelope) []byte {
	n := 2 + 8*binary.MaxVarintLen64 + len(env.ID) + len(env.Origin) + len(env.Client) + len(env.Event) +
		len(env.PrivateFor) + len(env.Private) + len(env.Image)
	for _, c := range env.To {
		n += binary.MaxVarintLen64 + len(c)
	}
	version := byte(codecVersion)
	if env.ToConn != "" || env.Kind == relay.KindGameInput {
		version = codecVersion2
	}
	if env.Kind == relay.KindFrame && env.Patch != nil {
		version = codecVersion3
		n += 4 * binary.MaxVarintLen64
	}
	if version >= codecVersion2 {
		n += binary.MaxVarintLen64 + len(env.ToConn)
	}
	b := make([]byte, 0, n)
	b = append(b, version, byte(env.Kind))
	b = appendString(b, env.ID)
	b = appendString(b, env.Origin)
	b = appendString(b, env.Client)
	b = binary.AppendVarint(b, env.TS)
	b = binary.AppendUvarint(b, env.Seq)
	b = binary.AppendUvarint(b, uint64(len(env.Event)))
	b = append(b, env.Event...)
	if env.To == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(env.To))+1)
		for _, c := range env.To {
			b = appendString(b, c)
		}
	}
	b = appendString(b, env.PrivateFor)
	b = binary.AppendUvarint(b, uint64(len(env.Private)))
	b = append(b, env.Private...)
	if version >= codecVersion2 {
		b = appendString(b, env.ToConn)
	}
	if version == codecVersion3 {
		p := env.Patch
		for _, v := range []int{p.X, p.Y, p.Width, p.Height} {
			b = binary.AppendUvarint(b, uint64(v))
		}
	}
	if env.Kind == relay.KindFrame {
		b = append(b, env.Image...)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeEnvelope builds the envelope of a NATS message of room. A frame's
// event and image are copied into its wire encoding; other events keep a
// reference to data, which NATS allocates for each message.
func decodeEnvelope(room string, data []byte) (*relay.Envelope, error) {
	d := decoder{b: data}
	version := d.byte()
	if version < codecVersion || version > codecVersion3 {
		return nil, fmt.Errorf("%w: version %d", ErrBadMessage, version)
	}
	kind := relay.Kind(d.byte())
	id := d.string()
	origin := d.string()
	client := d.string()
	ts := d.varint()
	seq := d.uvarint()
	event := d.bytes()
	var to []string
	if n := d.uvarint(); n > 0 {
		if n-1 > uint64(len(d.b)) {
			d.fail()
		} else {
			to = make([]string, 0, n-1)
			for range n - 1 {
				to = append(to, d.string())
			}
		}
	}
	privateFor := d.string()
	private := d.bytes()
	toConn := ""
	if version >= codecVersion2 {
		toConn = d.string()
	}
	var patch *relay.PatchRect
	if version == codecVersion3 {
		patch = &relay.PatchRect{X: d.int(), Y: d.int(), Width: d.int(), Height: d.int()}
		if kind != relay.KindFrame {
			return nil, fmt.Errorf("%w: a patch rectangle on kind %d", ErrBadMessage, kind)
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	var env *relay.Envelope
	switch kind {
	case relay.KindFrame:
		env = relay.NewFrameEnvelope(event, d.b)
	case relay.KindChat, relay.KindPresence, relay.KindGame, relay.KindGameInput:
		env = &relay.Envelope{Kind: kind, Event: event}
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrBadMessage, kind)
	}
	env.ID, env.Room, env.Origin, env.Client, env.TS, env.Seq = id, room, origin, client, ts, seq
	env.To, env.PrivateFor, env.ToConn, env.Patch = to, privateFor, toConn, patch
	if len(private) > 0 {
		env.Private = private
	}
	return env, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated", ErrBadMessage)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// int reads a uvarint that must fit a non-negative int32 (a patch
// coordinate or size).
func (d *decoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }
