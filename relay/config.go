package relay

import (
	"errors"
	"fmt"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Config is the relay's configuration. Every field's zero value means the
// default named in its comment, so Config{} is a working server.
type Config struct {
	// MaxBytes is the largest image (and text frame) a client may send, in
	// bytes. A bigger frame closes the connection with 1009. Default 8 MiB.
	MaxBytes int
	// MaxPixels is the largest width × height an image may declare. Default
	// 4096 × 4096.
	MaxPixels int64
	// Formats is the allow-list of image formats. Default png, jpeg, gif, webp.
	Formats []imageproc.Format
	// MaxLayers is how many publishing clients a room keeps a newest frame for,
	// for late joiners; the least recently updated layer is evicted first.
	// Default 32.
	MaxLayers int
	// MaxRetainedBytes caps the bytes of all retained layers of all rooms
	// together (in-memory broker). Least recently updated layers go first.
	// Default 256 MiB.
	MaxRetainedBytes int64
	// RoomRetainedBytes caps the bytes of one room's retained layers, so one
	// room cannot push every other room's layers out of MaxRetainedBytes;
	// the room's least recently updated layers go first. A late joiner is
	// sent at most this much (with a cluster broker too). Default 96 MiB
	// (nine layers of the default MaxBytes), at most half of
	// MaxRetainedBytes.
	RoomRetainedBytes int64
	// RetainEmptyFor is how long the layers of a room with no members are kept.
	// Default 1 hour.
	RetainEmptyFor time.Duration

	// QueueMaxBytes caps the bytes of image frames waiting for one subscriber.
	// Frames are latest-wins per source client, so this is only reached with
	// many sources; going over it closes the subscriber with 4002. Default
	// 64 MiB.
	QueueMaxBytes int
	// EventQueueMaxBytes caps the bytes of text events (chat, presence, acks)
	// waiting for one subscriber. Events are never dropped: going over the cap
	// closes the subscriber with 4002. Default 256 KiB.
	EventQueueMaxBytes int
	// WriteTimeout bounds every write to a socket. A subscriber whose write
	// does not complete in time is cut off with 4001. Default 10 s.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings every connection. Default 20 s.
	PingInterval time.Duration
	// ReadTimeout closes a connection from which nothing (not even a pong) has
	// been read for this long. Default 2.5 × PingInterval.
	ReadTimeout time.Duration
	// ShutdownGrace bounds how long one close frame may take to write during
	// Shutdown or a policy close. Default 2 s.
	ShutdownGrace time.Duration

	// DrainDelay is how long Shutdown waits, with /readyz already
	// answering 503, before it closes the connections, so that a load
	// balancer stops sending new ones first. Default 0.
	DrainDelay time.Duration

	// MaxChatBytes is the longest chat text accepted. A text frame longer
	// than 6 × MaxChatBytes + 1 KiB (25 KiB by default) is refused with
	// bad_request before it is parsed. Default 4 KiB.
	MaxChatBytes int
	// MaxConns caps connections to this server. Default 20,000.
	MaxConns int
	// MaxRooms caps rooms with local members on this server. Default 10,000.
	MaxRooms int
	// MaxMembersPerRoom caps the members of one room on this server. Default 1,000.
	MaxMembersPerRoom int

	// AllowedOrigins lists the browser origins allowed to connect, such as
	// "https://draw.example.com" or "https://*.example.com". A request with no
	// Origin header (a program, not a page) always passes this check.
	// DANGER: "*" lets any web page on the internet connect with its visitors'
	// browsers. Default (empty): only http and https pages on the request's
	// own Host, which does not stop DNS rebinding: set it on any public
	// deployment (SECURITY.md).
	AllowedOrigins []string

	// Broker carries frames, chat and presence between rooms and members.
	// Default: a new in-memory broker (a single node).
	Broker Broker

	// IdentityLookupTimeout bounds the lookup, at upgrade, of whether a
	// requested client id holds anything in the room (Broker.ClientHolds,
	// game seats; see identity.go). A lookup that fails or times out gives
	// the connection a fresh id. The identity key that makes hello.resume
	// is derived from AuthSecret when it is set (HMAC with a label of its
	// own, so it differs from the token key); otherwise it is random per
	// node, and shared by the nodes of a cluster through a broker that
	// implements IdentityKeySharer. Default 3 s.
	IdentityLookupTimeout time.Duration

	// NodeID names this node in a cluster. Default: random.
	NodeID string

	// Verify is how much of every image the relay checks before accepting
	// it (imageproc.Inspect always runs first). Default VerifyStructure.
	Verify VerifyMode
	// Normalize re-encodes every accepted frame once, before fan-out and
	// before it is kept as a layer, as IngestOptions say. Default false
	// (frames are relayed as they were sent).
	Normalize bool
	// IngestOptions is the normalising rendition. Zero: auto format,
	// quality 80, no size limit.
	IngestOptions imageproc.Options
	// Workers is the number of image workers (renditions, normalising,
	// full verification). Default GOMAXPROCS.
	Workers int
	// DecodeMemory caps the memory that running image work may reserve
	// together. Default 256 MiB.
	DecodeMemory int64
	// ImageTimeout is the CPU time budget of one image job (a rendition, a
	// full verification, a normalising re-encode): the CPU time of the
	// worker running it, from when it starts (wall time outside Linux). A
	// job over budget is abandoned: its decoder's reads fail, its caller
	// gets invalid_image, and it is counted in
	// canvasrelay_image_jobs_abandoned_total. Default 3 s.
	ImageTimeout time.Duration
	// AuthSecret, when set, turns room tokens on and checks HS256 tokens
	// (JWTs, see MintToken and Verifier) signed with it. Use at least 32
	// random bytes: anyone who holds it can mint any token. Default: none.
	// With neither AuthSecret nor AuthPublicKeys the relay is open: anyone
	// may join any room and list them all.
	AuthSecret []byte
	// AuthPublicKeys, when set, turns room tokens on and checks RS256, ES256
	// and EdDSA tokens signed by the matching private keys, which the relay
	// never holds (see LoadPublicKeys). Each key checks only the algorithm
	// of its type. Works alongside AuthSecret. Default: none.
	AuthPublicKeys []PublicKey
	// FrameRate is how many images per second one connection may send,
	// with bursts of FrameBurst. Negative: unlimited. Default 60/s, burst 120.
	FrameRate  float64
	FrameBurst int
	// ByteRate is how many image bytes per second one connection may send;
	// bursts may reach max(ByteRate, MaxBytes). Negative: unlimited. Default
	// 64 MiB/s.
	ByteRate float64
	// ChatRate is how many text frames (chat lines, commands, and anything
	// else sent as text) per second one connection may send, in bursts of
	// 10. Negative: unlimited. Default 5/s.
	ChatRate float64
	// MaxViolations is how many rate_limited, bad_request and (for a right
	// its token lacks) forbidden answers one connection may get within 10 s
	// before it is closed with 1008. Default 50.
	MaxViolations int
	// MaxConnsPerIP caps connections from one client address; more get HTTP
	// 429. Default 100.
	MaxConnsPerIP int
	// TrustProxy takes the client address from the last X-Forwarded-For
	// entry, as appended by a reverse proxy in front of the relay. DANGER:
	// without such a proxy, clients can claim any address. Default false.
	TrustProxy bool

	// Game makes the game of each room (see package relay/game). Default
	// nil: games are off, and game commands get bad_request.
	Game GameFactory
	// MaxRenditionsPerRoom caps the distinct renditions the members of one
	// room may ask for. Default 4.
	MaxRenditionsPerRoom int

	// TLSCertFile and TLSKeyFile are the PEM certificate and key of the
	// HTTP server that mounts Handler (canvasrelay serve --tls-cert,
	// --tls-key): both or neither. The relay itself only checks the pair.
	// Default none: plain HTTP.
	TLSCertFile, TLSKeyFile string
}

// MinAuthSecret is the shortest AuthSecret Validate accepts, in bytes.
const MinAuthSecret = 16

// ErrBadConfig is wrapped by every error of Validate.
var ErrBadConfig = errors.New("relay: bad configuration")

// DefaultConfig is the configuration Config{} stands for: every field set
// to its default, except NodeID (random per server) and the optional parts
// (Broker, Game, AuthSecret, TLS, origins). It is the one source of the
// defaults; canvasrelay's flags take theirs from it.
func DefaultConfig() Config {
	c := Config{}.withDefaults()
	c.NodeID = ""
	return c
}

// Validate reports whether c, with its defaults filled in, is a working
// configuration. New calls it; callers that build a Config from flags call
// it first to report a bad combination before they open anything.
func (c Config) Validate() error {
	return c.withDefaults().validate()
}

// VerifyMode says how much of each image the relay checks before it
// accepts the frame. Each mode includes the ones before it.
type VerifyMode string

const (
	// VerifyHeader checks the header only: format, size, pixel count
	// (imageproc.Inspect). Truncated, corrupt or padded bodies pass.
	VerifyHeader VerifyMode = "header"
	// VerifyStructure also walks the container without decoding pixels
	// (imageproc.CheckStructure): chunk lengths and CRCs, the end marker
	// with nothing after it, frames inside their screen. The default.
	VerifyStructure VerifyMode = "structure"
	// VerifyFull also decodes every image completely on the worker pool
	// (imageproc.VerifyContext), which costs milliseconds per frame.
	VerifyFull VerifyMode = "full"
)

// ParseVerifyMode parses header, structure or full; "" means
// VerifyStructure.
func ParseVerifyMode(s string) (VerifyMode, error) {
	switch m := VerifyMode(s); m {
	case "":
		return VerifyStructure, nil
	case VerifyHeader, VerifyStructure, VerifyFull:
		return m, nil
	}
	return "", fmt.Errorf("relay: verify mode %q: want header, structure or full", s)
}

// The retention defaults, shared by Config and MemoryBrokerConfig.
const (
	defaultMaxLayers        = 32
	defaultMaxRetainedBytes = 256 << 20
	defaultRetainEmptyFor   = time.Hour
)

func (c Config) withDefaults() Config {
	if c.MaxBytes <= 0 {
		c.MaxBytes = wire.DefaultMaxBytes
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = wire.DefaultMaxPixels
	}
	if len(c.Formats) == 0 {
		for _, f := range wire.DefaultFormats() {
			c.Formats = append(c.Formats, imageproc.Format(f))
		}
	}
	if c.MaxLayers <= 0 {
		c.MaxLayers = defaultMaxLayers
	}
	if c.MaxRetainedBytes <= 0 {
		c.MaxRetainedBytes = defaultMaxRetainedBytes
	}
	if c.RoomRetainedBytes <= 0 {
		c.RoomRetainedBytes = defaultRoomBytes(c.MaxRetainedBytes)
	}
	if c.RetainEmptyFor <= 0 {
		c.RetainEmptyFor = defaultRetainEmptyFor
	}
	if c.QueueMaxBytes <= 0 {
		c.QueueMaxBytes = 64 << 20
	}
	if c.EventQueueMaxBytes <= 0 {
		c.EventQueueMaxBytes = 256 << 10
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = c.PingInterval * 5 / 2
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 2 * time.Second
	}
	if c.MaxChatBytes <= 0 {
		c.MaxChatBytes = 4 << 10
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 20000
	}
	if c.IdentityLookupTimeout <= 0 {
		c.IdentityLookupTimeout = 3 * time.Second
	}
	if c.MaxRooms <= 0 {
		c.MaxRooms = 10000
	}
	if c.MaxMembersPerRoom <= 0 {
		c.MaxMembersPerRoom = 1000
	}
	if c.FrameRate == 0 {
		c.FrameRate = 60
	}
	if c.FrameBurst <= 0 {
		c.FrameBurst = 120
	}
	if c.ByteRate == 0 {
		c.ByteRate = 64 << 20
	}
	if c.ChatRate == 0 {
		c.ChatRate = 5
	}
	if c.MaxViolations <= 0 {
		c.MaxViolations = 50
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 100
	}
	if c.Verify == "" {
		c.Verify = VerifyStructure
	}
	if c.ImageTimeout <= 0 {
		c.ImageTimeout = 3 * time.Second
	}
	if c.MaxRenditionsPerRoom <= 0 {
		c.MaxRenditionsPerRoom = 4
	}
	if c.NodeID == "" {
		c.NodeID = randomID(6)
	}
	return c
}

func (c Config) validate() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("%w: TLSCertFile and TLSKeyFile go together", ErrBadConfig)
	}
	if len(c.AuthSecret) > 0 && len(c.AuthSecret) < MinAuthSecret {
		return fmt.Errorf("%w: AuthSecret is too short: use at least %d random characters", ErrBadConfig, MinAuthSecret)
	}
	if c.QueueMaxBytes < c.MaxBytes {
		return fmt.Errorf("%w: QueueMaxBytes (%d) must be at least MaxBytes (%d)", ErrBadConfig, c.QueueMaxBytes, c.MaxBytes)
	}
	if c.RoomRetainedBytes > c.MaxRetainedBytes {
		return fmt.Errorf("%w: RoomRetainedBytes (%d) must be at most MaxRetainedBytes (%d)", ErrBadConfig, c.RoomRetainedBytes, c.MaxRetainedBytes)
	}
	if c.ReadTimeout <= c.PingInterval {
		return fmt.Errorf("%w: ReadTimeout (%s) must be longer than PingInterval (%s)", ErrBadConfig, c.ReadTimeout, c.PingInterval)
	}
	if _, err := ParseVerifyMode(string(c.Verify)); err != nil {
		return err
	}
	if err := c.IngestOptions.Validate(); err != nil {
		return fmt.Errorf("%w: ingest options: %w", ErrBadConfig, err)
	}
	for _, o := range c.AllowedOrigins {
		if _, err := parseOriginPattern(o); err != nil {
			return fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
	}
	return nil
}
