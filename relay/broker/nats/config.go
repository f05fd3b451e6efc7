package natsbroker

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Config configures New. Every field's zero value means the default named in
// its comment, except URLs, which is required.
type Config struct {
	// URLs are the NATS servers to connect to (nats:// or tls://). Several
	// URLs name the members of one NATS cluster. Required.
	URLs []string
	// NodeID names this relay node in presence keys. It must be 1 to 64
	// characters of A-Z a-z 0-9 _ - and unique in the cluster. Default:
	// random.
	NodeID string
	// Name is the NATS connection name shown by the server's monitoring.
	// Default "canvasrelay <NodeID>".
	Name string

	// CredsFile is a NATS credentials file (JWT and NKey seed). Default none.
	CredsFile string
	// TLSCAFile is a PEM file of CAs that sign the NATS servers'
	// certificates. Default: the system roots when a URL is tls://.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a client certificate and its key, for
	// servers that verify clients. Default none.
	TLSCertFile, TLSKeyFile string

	// MaxBytes is the relay's largest image (relay.Config.MaxBytes). New
	// fails with ErrMaxPayload unless the server's max_payload holds it plus
	// Headroom. Default 8 MiB.
	MaxBytes int
	// MaxLayers is how many layer logs (senders) Layers returns per room at
	// most, the most recently updated ones; a room's mirror keeps as many.
	// Default 32.
	MaxLayers int
	// MaxRoomBytes bounds what Layers reads for one late joiner: the
	// newest layer logs whose bytes fit (a log is its full frame and its
	// patches). Default 96 MiB (relay.Config.RoomRetainedBytes).
	MaxRoomBytes int64
	// MirrorMaxBytes bounds the layer logs this node keeps in memory for
	// the rooms it has members in (mirror.go), all rooms together; the
	// least recently updated go first and are read again from the stream
	// when needed. Default 256 MiB.
	MirrorMaxBytes int64

	// PresenceTTL is how long a node's presence key lives without a
	// heartbeat. A node that dies without saying goodbye drops out of every
	// room's count within it. Heartbeats run every PresenceTTL/3. Default 15 s.
	PresenceTTL time.Duration
	// LayerMaxAge drops a retained frame that has not been replaced for this
	// long; a patch on a full frame older than this (less a minute, or a
	// tenth of it if shorter) is refused, as if it had none. Default 24 h.
	LayerMaxAge time.Duration
	// LayerMaxBytes caps the layer stream; the oldest frames go first.
	// Default 1 GiB.
	LayerMaxBytes int64
	// LayerStorage is where the layer stream keeps frames: jetstream.FileStorage
	// (survives a NATS restart) or jetstream.MemoryStorage. Default file.
	LayerStorage jetstream.StorageType
	// Replicas is the replica count of the stream and the bucket in a NATS
	// cluster (1, 3 or 5). Default 1.
	Replicas int
	// Stream is the JetStream stream of retained frames. Default "RELAY_LAYERS".
	Stream string
	// Bucket is the JetStream KV bucket of presence. Default "relay_presence".
	Bucket string
	// GameBucket is the JetStream KV bucket of game claims: which node
	// referees each room's game (see gameclaim.go). It is made at the first
	// claim, with a TTL of 5/6 of PresenceTTL. Default "relay_games".
	GameBucket string
	// IdentityBucket is the JetStream KV bucket that holds the cluster's
	// identity key, which makes hello.resume the same on every node (see
	// identity.go). File storage, no TTL. Default "relay_identity".
	IdentityBucket string

	// ReconnectWait is the pause between reconnect attempts. Default 1 s.
	ReconnectWait time.Duration
	// ConnectTimeout bounds the first connection. Default 5 s.
	ConnectTimeout time.Duration
	// RequestTimeout bounds each JetStream call (presence writes, layer
	// fetches). Default 3 s.
	RequestTimeout time.Duration
	// DedupeWindow is how many recent message ids are remembered to drop
	// duplicates. Default 8192.
	DedupeWindow int

	// Logger receives the broker's logs. Default: discard.
	Logger *slog.Logger
}

// maxMsgsPerSubject is the layer stream's MaxMsgsPerSubject: a log's full
// frame and its patches.
const maxMsgsPerSubject = 1 + wire.MaxLogPatches

// Headroom is what a frame's NATS message needs beyond the image itself: the
// frame event (JSON, with a display name of up to 64 characters) and the
// broker's own header.
const Headroom = 16 << 10

func (c Config) withDefaults() Config {
	if c.NodeID == "" {
		c.NodeID = randomID()
	}
	if c.Name == "" {
		c.Name = "canvasrelay " + c.NodeID
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = wire.DefaultMaxBytes
	}
	if c.MaxLayers <= 0 {
		c.MaxLayers = relay.DefaultConfig().MaxLayers
	}
	if c.MaxRoomBytes <= 0 {
		c.MaxRoomBytes = 96 << 20
	}
	if c.MirrorMaxBytes <= 0 {
		c.MirrorMaxBytes = 256 << 20
	}
	if c.PresenceTTL <= 0 {
		c.PresenceTTL = 15 * time.Second
	}
	if c.LayerMaxAge <= 0 {
		c.LayerMaxAge = 24 * time.Hour
	}
	if c.LayerMaxBytes <= 0 {
		c.LayerMaxBytes = 1 << 30
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Stream == "" {
		c.Stream = "RELAY_LAYERS"
	}
	if c.Bucket == "" {
		c.Bucket = "relay_presence"
	}
	if c.GameBucket == "" {
		c.GameBucket = "relay_games"
	}
	if c.IdentityBucket == "" {
		c.IdentityBucket = "relay_identity"
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 3 * time.Second
	}
	if c.DedupeWindow <= 0 {
		c.DedupeWindow = 8192
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) validate() error {
	if len(c.URLs) == 0 {
		return ErrNoURL
	}
	if !validNodeID(c.NodeID) {
		return fmt.Errorf("%w %q: use 1 to 64 characters from A-Z a-z 0-9 _ -", ErrBadNodeID, c.NodeID)
	}
	return nil
}

// NeededPayload is the smallest NATS max_payload that carries images of
// maxBytes.
func NeededPayload(maxBytes int) int { return maxBytes + Headroom }

// SuggestedPayload is the max_payload to advise for maxBytes: NeededPayload
// rounded up to a power of two of MiB, as nats-server writes it ("16MB").
func SuggestedPayload(maxBytes int) (bytes int, config string) {
	need := NeededPayload(maxBytes)
	mb := 1
	for mb<<20 < need {
		mb *= 2
	}
	return mb << 20, fmt.Sprintf("%dMB", mb)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return idEncoding.EncodeToString(b)
}
