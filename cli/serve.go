package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const serveHelp = `Runs the relay: WebSocket rooms at /ws/{room}, the whiteboard at /r/{room},
the viewer at /v/{room}, the draw-and-guess game at /g/{room}, /healthz,
/readyz, /metrics and /api/rooms. It is the default command: "canvasrelay"
alone, or with flags first, runs it.`

const serveExamples = `  canvasrelay                                  # listen on :8080
  canvasrelay serve --addr 127.0.0.1:9000 --max-bytes 2MiB --formats png,webp
  CANVASRELAY_LOG_FORMAT=json canvasrelay      # JSON logs for a log shipper`

// serveOptions are the serve flags.
type serveOptions struct {
	addr            string
	maxBytes        byteSize
	maxPixels       pixelCount
	formats         string
	maxLayers       int
	retainedBytes   byteSize
	roomRetained    byteSize
	logLevel        string
	logFormat       string
	allowOrigins    stringList
	writeTimeout    time.Duration
	pingInterval    time.Duration
	shutdownTimeout time.Duration
	maxConns        int
	maxRooms        int
	maxMembers      int
	broker          brokerOptions
	game            gameOptions
	ingest          string
	ingestMaxW      int
	ingestMaxH      int
	ingestFormat    string
	ingestQuality   int
	verify          string
	workers         int
	imageTimeout    time.Duration
	authSecret      string
	authPublicKeys  string
	tlsCert         string
	tlsKey          string
	trustProxy      bool
	frameRate       float64
	byteRate        byteSize
	chatRate        float64
	maxPerIP        int
	metricsAddr     string
	pprofAddr       string
	drainDelay      time.Duration
	accessLog       bool
}

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:     "serve [flags]",
		Short:   "Run the relay server (the default command)",
		Long:    serveHelp,
		Example: serveExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), &o, stdout, stderr)
		},
	}
	serveFlags(&o, cmd.Flags())
	return cmd
}

// serveFlags adds the serve flags to fs. Their defaults are the relay's
// (relay.DefaultConfig), so the two cannot drift apart.
func serveFlags(o *serveOptions, fs *pflag.FlagSet) {
	d := relay.DefaultConfig()
	o.maxBytes = byteSize(d.MaxBytes)
	o.maxPixels = pixelCount(d.MaxPixels)
	fs.StringVar(&o.addr, "addr", ":8080", "`host:port` to listen on")
	fs.Var(&o.maxBytes, "max-bytes", "largest image a client may send (`size`: bytes, or with KiB/MiB); bigger frames close with 1009")
	fs.Var(&o.maxPixels, "max-pixels", "largest width × height an image may declare (`N` or WxH, e.g. 4096x4096)")
	fs.StringVar(&o.formats, "formats", formatList(d.Formats), "allowed image `formats`, comma-separated")
	fs.IntVar(&o.maxLayers, "max-layers", d.MaxLayers, "publishing clients a room keeps a newest frame for, for late joiners (`N`)")
	o.retainedBytes = byteSize(d.MaxRetainedBytes)
	fs.Var(&o.retainedBytes, "retained-bytes", "`size` of the retained layers of all rooms together (in-memory broker); the least recently updated go first")
	fs.Var(&o.roomRetained, "room-retained-bytes", fmt.Sprintf("`size` of one room's retained layers, and the most a late joiner is sent (0: %s, at most half of --retained-bytes)", formatSize(d.RoomRetainedBytes)))
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format`: text or json")
	fs.Var(&o.allowOrigins, "allow-origin", "browser `origin` allowed to connect (repeatable; https://*.example.com; * allows any page: dangerous). Default: the server's own host")
	fs.DurationVar(&o.writeTimeout, "write-timeout", d.WriteTimeout, "cut off a subscriber whose write takes longer (close 4001)")
	fs.DurationVar(&o.pingInterval, "ping-interval", d.PingInterval, "how often to ping each connection; silent ones close after 2.5× (close 4003)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long SIGTERM waits for connections to close")
	fs.IntVar(&o.maxConns, "max-conns", d.MaxConns, "connections this server accepts at most")
	fs.IntVar(&o.maxRooms, "max-rooms", d.MaxRooms, "rooms this server holds at most")
	fs.IntVar(&o.maxMembers, "max-members", d.MaxMembersPerRoom, "members per room at most")
	fs.StringVar(&o.ingest, "ingest", "original", "ingest `policy`: original (relay frames as sent) or normalize (re-encode each accepted frame once, as the --ingest-* flags say)")
	fs.IntVar(&o.ingestMaxW, "ingest-max-width", 0, "with --ingest normalize: fit frames into this width (`px`; 0 = no limit; never upscales)")
	fs.IntVar(&o.ingestMaxH, "ingest-max-height", 0, "with --ingest normalize: fit frames into this height (`px`; 0 = no limit)")
	fs.StringVar(&o.ingestFormat, "ingest-format", "auto", "with --ingest normalize: `format` auto (JPEG if opaque, else PNG), png, jpeg or original")
	fs.IntVar(&o.ingestQuality, "ingest-quality", imageproc.DefaultQuality, "with --ingest normalize: JPEG `quality` 1-100")
	fs.StringVar(&o.verify, "verify", string(d.Verify), "image check: header (format, size, pixels), structure (also walk the container: chunks, CRCs, end marker; no decode) or full (also decode completely)")
	fs.IntVar(&o.workers, "workers", 0, "image workers for renditions, normalising and full checks (`N`; 0 = one per CPU)")
	fs.DurationVar(&o.imageTimeout, "image-timeout", d.ImageTimeout, "CPU time budget of one image job (rendition, full check, normalising); a job over it is abandoned")
	fs.StringVar(&o.authSecret, "auth-secret", "", "HMAC `secret` for room tokens (JWT, HS256); when set, every connection needs a token (mint one with \"canvasrelay token\"). Prefer the environment variable: flags show in ps")
	fs.StringVar(&o.authPublicKeys, "auth-public-keys", "", "`file` of public keys (PEM or JWKS) that check RS256, ES256 and EdDSA room tokens minted elsewhere; when set, every connection needs a token")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM): serve https and wss")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key `file` (PEM), with --tls-cert")
	fs.BoolVar(&o.trustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For (only behind a reverse proxy that sets it)")
	fs.Float64Var(&o.frameRate, "frame-rate", d.FrameRate, "images per second one connection may send (bursts of 2×; -1 = unlimited)")
	o.byteRate = byteSize(d.ByteRate)
	fs.Var(&o.byteRate, "byte-rate", "image bytes per second one connection may send (`size`)")
	fs.Float64Var(&o.chatRate, "chat-rate", d.ChatRate, "text frames (chat lines, commands) per second one connection may send (bursts of 10; -1 = unlimited)")
	fs.IntVar(&o.maxPerIP, "max-conns-per-ip", d.MaxConnsPerIP, "connections from one client address at most (HTTP 429 beyond)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics on this separate `host:port` instead of the main listener")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve Go profiling (/debug/pprof/) on this `host:port`; off by default, never on the main listener")
	fs.DurationVar(&o.drainDelay, "drain-delay", 0, "on shutdown, answer /readyz 503 for this long before closing connections (for load balancers)")
	fs.BoolVar(&o.accessLog, "access-log", true, "log every HTTP request at info level")
	o.broker.register(fs)
	o.game.register(fs)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError(fmt.Errorf("--log-level %q: want debug, info, warn or error", level))
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, usageError(fmt.Errorf("--log-format %q: want text or json", format))
	}
}

// relayConfig is the relay's configuration from the serve flags, without
// the broker and the games (newServe opens those). Flag values that do
// not parse are usage errors; relay.Config.Validate judges the rest.
func (o *serveOptions) relayConfig() (relay.Config, error) {
	formats, err := imageproc.ParseFormats(o.formats)
	if err != nil {
		return relay.Config{}, usageError(fmt.Errorf("--formats: %w", err))
	}
	var authKeys []relay.PublicKey
	if o.authPublicKeys != "" {
		if authKeys, err = relay.LoadPublicKeys(o.authPublicKeys); err != nil {
			return relay.Config{}, usageError(fmt.Errorf("--auth-public-keys: %w", err))
		}
	}
	var normalize bool
	switch o.ingest {
	case "original":
	case "normalize":
		normalize = true
	default:
		return relay.Config{}, usageError(fmt.Errorf("--ingest %q: want original or normalize", o.ingest))
	}
	verify, err := relay.ParseVerifyMode(o.verify)
	if err != nil {
		return relay.Config{}, usageError(fmt.Errorf("--verify %q: want header, structure or full", o.verify))
	}
	ingestFormat, err := imageproc.ParseOutputFormat(o.ingestFormat)
	if err != nil {
		return relay.Config{}, usageError(fmt.Errorf("--ingest-format: %w", err))
	}
	cfg := relay.Config{
		NodeID:            o.broker.nodeID,
		MaxBytes:          int(o.maxBytes),
		MaxPixels:         int64(o.maxPixels),
		Formats:           formats,
		MaxLayers:         o.maxLayers,
		MaxRetainedBytes:  int64(o.retainedBytes),
		RoomRetainedBytes: int64(o.roomRetained),
		AllowedOrigins:    o.allowOrigins,
		WriteTimeout:      o.writeTimeout,
		PingInterval:      o.pingInterval,
		MaxConns:          o.maxConns,
		MaxRooms:          o.maxRooms,
		MaxMembersPerRoom: o.maxMembers,
		Normalize:         normalize,
		IngestOptions:     imageproc.Options{MaxWidth: o.ingestMaxW, MaxHeight: o.ingestMaxH, Format: ingestFormat, Quality: o.ingestQuality},
		Verify:            verify,
		Workers:           o.workers,
		ImageTimeout:      o.imageTimeout,
		AuthSecret:        []byte(o.authSecret),
		AuthPublicKeys:    authKeys,
		TLSCertFile:       o.tlsCert,
		TLSKeyFile:        o.tlsKey,
		TrustProxy:        o.trustProxy,
		FrameRate:         o.frameRate,
		FrameBurst:        int(2 * max(o.frameRate, 1)),
		ByteRate:          float64(o.byteRate),
		ChatRate:          o.chatRate,
		MaxConnsPerIP:     o.maxPerIP,
		DrainDelay:        o.drainDelay,
	}
	if err := cfg.Validate(); err != nil {
		return relay.Config{}, usageError(err)
	}
	return cfg, nil
}

func runServe(ctx context.Context, o *serveOptions, stdout, stderr io.Writer) error {
	s, err := newServe(ctx, o, stdout, stderr)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// serve is the serve command, built from its options by newServe and
// run by Run (the wtf layout: build, then run). Tests start it on
// 127.0.0.1:0 and read the address from Addr.
type serve struct {
	// Static after newServer.
	o           *serveOptions
	log         *slog.Logger
	stdout      io.Writer
	relay       *relay.Server
	http        *http.Server
	ln          net.Listener
	side        []*http.Server // the metrics and pprof listeners
	closeBroker func()
}

// newServe checks the options, opens the broker, builds the relay and
// binds every listener, so that a bad flag or a busy port fails here,
// before Run. ctx bounds the broker's first connection.
func newServe(ctx context.Context, o *serveOptions, stdout, stderr io.Writer) (_ *serve, err error) {
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return nil, err
	}
	cfg, err := o.relayConfig()
	if err != nil {
		return nil, err
	}
	if o.authSecret == "" && o.authPublicKeys == "" {
		log.Warn("no --auth-secret or --auth-public-keys: the relay is open; anyone who can reach it may join any room")
	}
	if o.trustProxy {
		log.Info("--trust-proxy: client addresses come from X-Forwarded-For; only safe behind a proxy that sets it")
	}
	if len(o.allowOrigins) == 0 {
		log.Info("no --allow-origin: browsers may connect from http(s) pages on the relay's own host only; list your origins on a public deployment (DNS rebinding, see SECURITY.md)")
	}
	for _, or := range o.allowOrigins {
		if or == "*" {
			log.Warn("--allow-origin * lets ANY web page connect to this relay with its visitors' browsers; use it only for local testing")
		}
	}
	s := &serve{o: o, log: log, stdout: stdout, closeBroker: func() {}}
	defer func() {
		if err != nil {
			s.abandon()
		}
	}()
	broker, closeBroker, err := o.broker.open(ctx, int(o.maxBytes), o.maxLayers, int64(o.roomRetained), log)
	if err != nil {
		return nil, err
	}
	s.closeBroker = closeBroker
	games, err := o.game.factory(log, o.broker.claims)
	if err != nil {
		return nil, err
	}
	cfg.Broker, cfg.Game = broker, games
	s.relay, err = relay.New(cfg, log)
	if err != nil {
		return nil, usageError(err)
	}
	if c, ok := broker.(prometheus.Collector); ok {
		s.relay.Registry().MustRegister(c)
	}
	mux := http.NewServeMux()
	rh := s.relay.Handler()
	for _, p := range []string{"/ws/", "/healthz", "/readyz", "/api/rooms"} {
		mux.Handle(p, rh)
	}
	if o.metricsAddr == "" {
		mux.Handle("/metrics", rh)
	}
	mux.Handle("/", web.Handler())
	var handler http.Handler = mux
	if o.accessLog {
		handler = accessLog(mux, log)
	}
	if o.metricsAddr != "" {
		m := http.NewServeMux()
		m.Handle("/metrics", s.relay.MetricsHandler())
		hs, err := listenSide(o.metricsAddr, m, log, "metrics")
		if err != nil {
			return nil, err
		}
		s.side = append(s.side, hs)
	}
	if o.pprofAddr != "" {
		hs, err := listenSide(o.pprofAddr, pprofMux(), log, "pprof")
		if err != nil {
			return nil, err
		}
		s.side = append(s.side, hs)
	}
	s.ln, err = net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr is the address the main listener is bound to.
func (s *serve) Addr() net.Addr { return s.ln.Addr() }

// abandon releases what a newServe that failed half-way opened.
func (s *serve) abandon() {
	if s.relay != nil {
		_ = s.relay.Shutdown(context.Background())
	}
	if s.ln != nil {
		_ = s.ln.Close()
	}
	s.release()
}

// release closes the side listeners and the broker, once the relay has
// stopped.
func (s *serve) release() {
	for _, hs := range s.side {
		_ = hs.Close()
	}
	s.closeBroker()
}

// Run serves until ctx ends, then shuts down gracefully: new connections
// stop first, then the WebSockets close with 1001, within
// --shutdown-timeout.
func (s *serve) Run(ctx context.Context) error {
	defer s.release()
	o, log := s.o, s.log
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	log.Info("listening", "addr", s.ln.Addr().String(), "scheme", scheme, "max_bytes", int(o.maxBytes), "max_pixels", int64(o.maxPixels), "formats", o.formats)
	fmt.Fprintf(s.stdout, "canvasrelay listening on %s://%s\n", scheme, s.ln.Addr())

	errc := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			errc <- s.http.ServeTLS(s.ln, o.tlsCert, o.tlsKey)
			return
		}
		errc <- s.http.Serve(s.ln)
	}()
	select {
	case err := <-errc:
		_ = s.relay.Shutdown(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	// Stop new connections first, then close the WebSockets with 1001.
	herr := make(chan error, 1)
	go func() { herr <- s.http.Shutdown(sctx) }()
	rerr := s.relay.Shutdown(sctx)
	if err := <-herr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	if rerr != nil {
		log.Warn("relay shutdown forced", "err", rerr)
	}
	log.Info("stopped")
	return nil
}

// listenSide serves h on addr (metrics, pprof) with server timeouts.
func listenSide(addr string, h http.Handler, log *slog.Logger, what string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s on %s: %w", what, addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Info("listening", "what", what, "addr", ln.Addr().String())
	return hs, nil
}

func pprofMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}
