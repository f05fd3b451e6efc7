package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	natsbroker "github.com/canvasrelay/canvasrelay/relay/broker/nats"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"
)

// brokerOptions are the serve flags that choose the broker. The in-memory
// broker (a single node) is the default; --broker or --embedded-nats make
// this node one of a cluster that shares rooms through NATS (docs/cluster.md).
type brokerOptions struct {
	urls          stringList
	creds         string
	tlsCA         string
	tlsCert       string
	tlsKey        string
	embedded      bool
	embeddedAddr  string
	embeddedStore string
	nodeID        string
	presenceTTL   time.Duration
	layerMaxAge   time.Duration
	layerMaxBytes byteSize
	layerStorage  string
	replicas      int

	claims relay.GameClaims // set by open: the NATS broker's game claims; nil in memory
}

// register adds the broker flags to serve's flag set.
func (b *brokerOptions) register(fs *pflag.FlagSet) {
	b.layerMaxBytes = 1 << 30
	fs.Var(&b.urls, "broker", "NATS server `url` (nats://host:4222 or tls://…) that shares rooms between relay nodes; repeatable or comma-separated for a NATS cluster. Default: in memory, a single node")
	fs.StringVar(&b.creds, "nats-creds", "", "NATS credentials `file` (JWT and seed) for --broker; with --embedded-nats, the embedded server also accepts only users of the account that signed it")
	fs.StringVar(&b.tlsCA, "nats-tls-ca", "", "PEM `file` of the CAs that sign the NATS servers' certificates")
	fs.StringVar(&b.tlsCert, "nats-tls-cert", "", "client certificate `file` for NATS servers that verify clients")
	fs.StringVar(&b.tlsKey, "nats-tls-key", "", "key `file` of --nats-tls-cert")
	fs.BoolVar(&b.embedded, "embedded-nats", false, "run a NATS server with JetStream inside this process and use it; other nodes join with --broker nats://THIS_HOST:PORT --nats-creds FILE")
	fs.StringVar(&b.embeddedAddr, "embedded-nats-addr", "127.0.0.1:4222", "`host:port` the embedded NATS server listens on (port 0: any free port). Beyond loopback it requires credentials: --nats-creds, or generated into the store as canvasrelay.creds (mode 0600) and used by this node")
	fs.StringVar(&b.embeddedStore, "embedded-nats-store", "", "`dir` of the embedded NATS server's JetStream store (default: canvasrelay-nats-PORT in the temp dir)")
	fs.StringVar(&b.nodeID, "node-id", "", "this node's `name` in the cluster's presence: 1 to 64 of A-Z a-z 0-9 _ -, unique per node, best kept across restarts (default: random)")
	fs.DurationVar(&b.presenceTTL, "presence-ttl", 15*time.Second, "with NATS: a node that dies without goodbye drops out of every room's count within this `duration`")
	fs.DurationVar(&b.layerMaxAge, "layer-max-age", 24*time.Hour, "with NATS: a retained frame not replaced for this `duration` is dropped")
	fs.Var(&b.layerMaxBytes, "layer-max-bytes", "with NATS: `size` of the layer stream; the oldest frames go first")
	fs.StringVar(&b.layerStorage, "layer-storage", "file", "with NATS: where the layer stream keeps frames: `file` (survives a NATS restart) or memory")
	fs.IntVar(&b.replicas, "nats-replicas", 1, "with NATS: replicas of the layer stream and presence bucket in a JetStream cluster (`N`: 1, 3 or 5)")
}

// open returns the broker to use, or nil for the in-memory default, and a
// function that releases it after the relay has shut down.
func (b *brokerOptions) open(ctx context.Context, maxBytes, maxLayers int, roomBytes int64, log *slog.Logger) (relay.Broker, func(), error) {
	urls := make([]string, 0, len(b.urls))
	for _, u := range b.urls {
		if u != "memory" {
			urls = append(urls, u)
		}
	}
	if !b.embedded && len(urls) == 0 {
		if b.creds != "" || b.tlsCA != "" || b.tlsCert != "" || b.tlsKey != "" {
			return nil, nil, usageError(errors.New("--nats-creds and --nats-tls-* need --broker nats://host:port"))
		}
		return nil, func() {}, nil
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
			return nil, nil, usageError(fmt.Errorf("--broker %q: want nats://host:port or tls://host:port", u))
		}
	}
	var storage jetstream.StorageType
	switch b.layerStorage {
	case "file":
		storage = jetstream.FileStorage
	case "memory":
		storage = jetstream.MemoryStorage
	default:
		return nil, nil, usageError(fmt.Errorf("--layer-storage %q: want file or memory", b.layerStorage))
	}
	var embedded *server.Server
	stopEmbedded := func() {
		if embedded != nil {
			embedded.Shutdown()
			embedded.WaitForShutdown()
		}
	}
	creds := b.creds
	if b.embedded {
		payload, _ := natsbroker.SuggestedPayload(maxBytes)
		s, used, err := startEmbeddedNATS(b.embeddedAddr, b.embeddedStore, creds, payload, log)
		if err != nil {
			return nil, nil, err
		}
		embedded, creds = s, used
		urls = append([]string{dialURL(s)}, urls...)
	}
	nb, err := natsbroker.New(ctx, natsbroker.Config{
		URLs:          urls,
		NodeID:        b.nodeID,
		CredsFile:     creds,
		TLSCAFile:     b.tlsCA,
		TLSCertFile:   b.tlsCert,
		TLSKeyFile:    b.tlsKey,
		MaxBytes:      maxBytes,
		MaxLayers:     maxLayers,
		MaxRoomBytes:  roomBytes, // what Layers reads for a late joiner, as the relay sends at most
		PresenceTTL:   b.presenceTTL,
		LayerMaxAge:   b.layerMaxAge,
		LayerMaxBytes: int64(b.layerMaxBytes),
		LayerStorage:  storage,
		Replicas:      b.replicas,
		Logger:        log,
	})
	if err != nil {
		stopEmbedded()
		if errors.Is(err, natsbroker.ErrBadNodeID) {
			return nil, nil, usageError(fmt.Errorf("--node-id: %w", err))
		}
		return nil, nil, fmt.Errorf("--broker: %w", err)
	}
	b.claims = nb.GameClaims()
	b.claims = nb.GameClaims()
	return nb, func() {
		_ = nb.Close()
		stopEmbedded()
	}, nil
}

// credsName is the file, in the store directory, of the credentials
// generated for an embedded NATS server that listens beyond loopback.
const credsName = "canvasrelay.creds"

// startEmbeddedNATS runs a NATS server with JetStream in this process on
// addr (port 0: any free port), keeping its store in dir. With creds (a
// NATS credentials file) it accepts only users of the account that signed
// them. Beyond loopback it needs credentials: without creds they are
// generated into dir/canvasrelay.creds (mode 0600), or kept from an
// earlier run. It returns the credentials it uses ("" for none).
func startEmbeddedNATS(addr, dir, creds string, maxPayload int, log *slog.Logger) (*server.Server, string, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", usageError(fmt.Errorf("NATS address %q: want host:port", addr))
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, "", usageError(fmt.Errorf("NATS address %q: bad port", addr))
	}
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "canvasrelay-nats-"+portStr)
	}
	if port == 0 {
		port = -1 // nats-server's "any free port"; its 0 means 4222
	}
	if host == "" {
		host = "0.0.0.0" // ":4222" listens everywhere, as net.Listen would
	}
	if creds == "" && !natsbroker.IsLoopback(host) {
		if creds, err = generatedCreds(dir); err != nil {
			return nil, "", err
		}
	}
	s, err := natsbroker.RunEmbedded(natsbroker.EmbeddedConfig{
		Host: host, Port: port, StoreDir: dir, MaxPayload: maxPayload, Logger: log, CredsFile: creds,
	})
	if err != nil {
		return nil, "", err
	}
	if creds == "" {
		log.Info("embedded NATS server", "url", s.ClientURL(), "store", dir, "max_payload", maxPayload, "auth", "none (loopback only)")
	} else {
		log.Info("embedded NATS server", "url", s.ClientURL(), "store", dir, "max_payload", maxPayload, "creds", creds)
	}
	return s, creds, nil
}

// generatedCreds returns dir/canvasrelay.creds, made on first use.
func generatedCreds(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("NATS store: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dir, credsName))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil // kept from an earlier run: copies on other nodes stay good
	}
	if err := natsbroker.WriteCredsFile(path); err != nil {
		return "", err
	}
	return path, nil
}

// dialURL is the URL this process uses to reach s: a server listening on
// every interface is reached on loopback.
func dialURL(s *server.Server) string {
	u := s.ClientURL()
	for _, any := range []string{"://0.0.0.0:", "://[::]:"} {
		u = strings.Replace(u, any, "://127.0.0.1:", 1)
	}
	return u
}
