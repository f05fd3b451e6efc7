package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/web"
	"github.com/prometheus/client_golang/prometheus"
)

const serveHelp = `Usage: canvasrelay [serve] [flags]

Runs the relay: WebSocket rooms at /ws/{room}, the whiteboard at /r/{room},
the viewer at /v/{room}, the draw-and-guess game at /g/{room}, /healthz,
/readyz, /metrics and /api/rooms.

Examples:
  canvasrelay                                  # listen on :8080
  canvasrelay serve --addr 127.0.0.1:9000 --max-bytes 2MiB --formats png,webp
  CANVASRELAY_LOG_FORMAT=json canvasrelay      # JSON logs for a log shipper
`

// serveOptions are the serve flags.
type serveOptions struct {
	addr            string
	maxBytes        byteSize
	maxPixels       pixelCount
	formats         string
	maxLayers       int
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

func serveFlags(o *serveOptions, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.maxBytes = 8 << 20
	o.maxPixels = 4096 * 4096
	fs.StringVar(&o.addr, "addr", ":8080", "`host:port` to listen on")
	fs.Var(&o.maxBytes, "max-bytes", "largest image a client may send (`size`: bytes, or with KiB/MiB); bigger frames close with 1009")
	fs.Var(&o.maxPixels, "max-pixels", "largest width × height an image may declare (`N` or WxH, e.g. 4096x4096)")
	fs.StringVar(&o.formats, "formats", "png,jpeg,gif,webp", "allowed image `formats`, comma-separated")
	fs.IntVar(&o.maxLayers, "max-layers", 32, "publishing clients a room keeps a newest frame for, for late joiners (`N`)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format`: text or json")
	fs.Var(&o.allowOrigins, "allow-origin", "browser `origin` allowed to connect (repeatable; https://*.example.com; * allows any page: dangerous). Default: the server's own host")
	fs.DurationVar(&o.writeTimeout, "write-timeout", 10*time.Second, "cut off a subscriber whose write takes longer (close 4001)")
	fs.DurationVar(&o.pingInterval, "ping-interval", 20*time.Second, "how often to ping each connection; silent ones close after 2.5× (close 4003)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long SIGTERM waits for connections to close")
	fs.IntVar(&o.maxConns, "max-conns", 20000, "connections this server accepts at most")
	fs.IntVar(&o.maxRooms, "max-rooms", 10000, "rooms this server holds at most")
	fs.IntVar(&o.maxMembers, "max-members", 1000, "members per room at most")
	fs.StringVar(&o.ingest, "ingest", "original", "ingest `policy`: original (relay frames as sent) or normalize (re-encode each accepted frame once, as the --ingest-* flags say)")
	fs.IntVar(&o.ingestMaxW, "ingest-max-width", 0, "with --ingest normalize: fit frames into this width (`px`; 0 = no limit; never upscales)")
	fs.IntVar(&o.ingestMaxH, "ingest-max-height", 0, "with --ingest normalize: fit frames into this height (`px`; 0 = no limit)")
	fs.StringVar(&o.ingestFormat, "ingest-format", "auto", "with --ingest normalize: `format` auto (JPEG if opaque, else PNG), png, jpeg or original")
	fs.IntVar(&o.ingestQuality, "ingest-quality", 80, "with --ingest normalize: JPEG `quality` 1-100")
	fs.StringVar(&o.verify, "verify", "structure", "image check: header (format, size, pixels), structure (also walk the container: chunks, CRCs, end marker; no decode) or full (also decode completely)")
	fs.IntVar(&o.workers, "workers", 0, "image workers for renditions, normalising and full checks (`N`; 0 = one per CPU)")
	fs.DurationVar(&o.imageTimeout, "image-timeout", 3*time.Second, "CPU time budget of one image job (rendition, full check, normalising); a job over it is abandoned")
	fs.StringVar(&o.authSecret, "auth-secret", "", "HMAC `secret` for room tokens; when set, every connection needs a token (mint one with \"canvasrelay token\"). Prefer the environment variable: flags show in ps")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM): serve https and wss")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key `file` (PEM), with --tls-cert")
	fs.BoolVar(&o.trustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For (only behind a reverse proxy that sets it)")
	fs.Float64Var(&o.frameRate, "frame-rate", 60, "images per second one connection may send (bursts of 2×; -1 = unlimited)")
	o.byteRate = 64 << 20
	fs.Var(&o.byteRate, "byte-rate", "image bytes per second one connection may send (`size`)")
	fs.Float64Var(&o.chatRate, "chat-rate", 5, "chat lines per second one connection may send (bursts of 10; -1 = unlimited)")
	fs.IntVar(&o.maxPerIP, "max-conns-per-ip", 100, "connections from one client address at most (HTTP 429 beyond)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics on this separate `host:port` instead of the main listener")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve Go profiling (/debug/pprof/) on this `host:port`; off by default, never on the main listener")
	fs.DurationVar(&o.drainDelay, "drain-delay", 0, "on shutdown, answer /readyz 503 for this long before closing connections (for load balancers)")
	fs.BoolVar(&o.accessLog, "access-log", true, "log every HTTP request at info level")
	o.broker.register(fs)
	o.game.register(fs)
	fs.Usage = flagUsage(fs, serveHelp)
	return fs
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

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o serveOptions
	fs := serveFlags(&o, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("serve takes no arguments, got %q", fs.Args()))
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	formats, err := imageproc.ParseFormats(o.formats)
	if err != nil {
		return usageError(fmt.Errorf("--formats: %w", err))
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError(errors.New("--tls-cert and --tls-key go together"))
	}
	if o.authSecret == "" {
		log.Warn("no --auth-secret: the relay is open; anyone who can reach it may join any room")
	} else if len(o.authSecret) < 16 {
		return usageError(errors.New("--auth-secret is too short: use at least 16 random characters"))
	}
	if o.trustProxy {
		log.Info("--trust-proxy: client addresses come from X-Forwarded-For; only safe behind a proxy that sets it")
	}
	for _, or := range o.allowOrigins {
		if or == "*" {
			log.Warn("--allow-origin * lets ANY web page connect to this relay with its visitors' browsers; use it only for local testing")
		}
	}
	var normalize bool
	switch o.ingest {
	case "original":
	case "normalize":
		normalize = true
	default:
		return usageError(fmt.Errorf("--ingest %q: want original or normalize", o.ingest))
	}
	verify, err := relay.ParseVerifyMode(o.verify)
	if err != nil {
		return usageError(fmt.Errorf("--verify %q: want header, structure or full", o.verify))
	}
	ingestFormat, err := imageproc.ParseOutputFormat(o.ingestFormat)
	if err != nil {
		return usageError(fmt.Errorf("--ingest-format: %w", err))
	}
	ingestOpts := imageproc.Options{MaxWidth: o.ingestMaxW, MaxHeight: o.ingestMaxH, Format: ingestFormat, Quality: o.ingestQuality}
	if err := ingestOpts.Validate(); err != nil {
		return usageError(fmt.Errorf("--ingest-*: %w", err))
	}
	broker, closeBroker, err := o.broker.open(ctx, int(o.maxBytes), log)
	if err != nil {
		return err
	}
	defer closeBroker()
	games, err := o.game.factory(log, broker != nil)
	if err != nil {
		return err
	}
	srv, err := relay.New(relay.Config{
		NodeID:            o.broker.nodeID,
		Game:              games,
		Broker:            broker,
		MaxBytes:          int(o.maxBytes),
		MaxPixels:         int64(o.maxPixels),
		Formats:           formats,
		MaxLayers:         o.maxLayers,
		AllowedOrigins:    o.allowOrigins,
		WriteTimeout:      o.writeTimeout,
		PingInterval:      o.pingInterval,
		MaxConns:          o.maxConns,
		MaxRooms:          o.maxRooms,
		MaxMembersPerRoom: o.maxMembers,
		Normalize:         normalize,
		IngestOptions:     ingestOpts,
		Verify:            verify,
		Workers:           o.workers,
		ImageTimeout:      o.imageTimeout,
		AuthSecret:        []byte(o.authSecret),
		TrustProxy:        o.trustProxy,
		FrameRate:         o.frameRate,
		FrameBurst:        int(2 * max(o.frameRate, 1)),
		ByteRate:          float64(o.byteRate),
		ChatRate:          o.chatRate,
		MaxConnsPerIP:     o.maxPerIP,
		DrainDelay:        o.drainDelay,
	}, log)
	if err != nil {
		return usageError(err)
	}
	if c, ok := broker.(prometheus.Collector); ok {
		srv.Registry().MustRegister(c)
	}
	mux := http.NewServeMux()
	rh := srv.Handler()
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
	var side []*http.Server // the metrics and pprof listeners
	if o.metricsAddr != "" {
		m := http.NewServeMux()
		m.Handle("/metrics", srv.MetricsHandler())
		hs, err := listenSide(o.metricsAddr, m, log, "metrics")
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return err
		}
		side = append(side, hs)
	}
	if o.pprofAddr != "" {
		hs, err := listenSide(o.pprofAddr, pprofMux(), log, "pprof")
		if err != nil {
			_ = srv.Shutdown(context.Background())
			return err
		}
		side = append(side, hs)
	}
	defer func() {
		for _, hs := range side {
			_ = hs.Close()
		}
	}()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	log.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "max_bytes", int(o.maxBytes), "max_pixels", int64(o.maxPixels), "formats", o.formats)
	fmt.Fprintf(stdout, "canvasrelay listening on %s://%s\n", scheme, ln.Addr())

	errc := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			errc <- hs.ServeTLS(ln, o.tlsCert, o.tlsKey)
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		_ = srv.Shutdown(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", o.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	// Stop new connections first, then close the WebSockets with 1001.
	herr := make(chan error, 1)
	go func() { herr <- hs.Shutdown(sctx) }()
	rerr := srv.Shutdown(sctx)
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

// byteSize is a flag holding a size in bytes: 8388608, 8MiB, 512KiB, 2MB.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}} {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q: want a positive number of bytes, optionally with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

// pixelCount is a flag holding width × height: 16777216 or 4096x4096.
type pixelCount int64

func (p *pixelCount) String() string { return strconv.FormatInt(int64(*p), 10) }
func (p *pixelCount) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	if w, h, ok := strings.Cut(t, "x"); ok {
		wi, err1 := strconv.ParseInt(w, 10, 64)
		hi, err2 := strconv.ParseInt(h, 10, 64)
		if err1 != nil || err2 != nil || wi <= 0 || hi <= 0 {
			return fmt.Errorf("bad pixel count %q: want N or WxH", s)
		}
		*p = pixelCount(wi * hi)
		return nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("bad pixel count %q: want N or WxH", s)
	}
	*p = pixelCount(n)
	return nil
}
