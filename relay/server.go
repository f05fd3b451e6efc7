package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/lxzan/gws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the relay: an http.Handler for /ws/{room}, /healthz, /readyz and
// /metrics, with its rooms, connections and broker.
type Server struct {
	// Static after New.
	cfg         Config
	log         *slog.Logger
	limits      imageproc.Limits
	formatNames []string
	broker      Broker
	ownBroker   bool // the broker was made by New and is closed by Shutdown
	metrics     *metrics
	upPlain     *gws.Upgrader // for clients that offer no subprotocol
	upProto     *gws.Upgrader // echoes canvasrelay.v1
	origins     []originPattern
	mux         *http.ServeMux
	pool        *imageproc.Pool // image work: renditions, normalising, verifying
	auth        *Verifier       // room tokens; nil when tokens are off
	ctx         context.Context // ends when Shutdown begins
	cancel      context.CancelFunc
	idKey       []byte                 // the identity key: makes and checks resume (identity.go)
	grants      *prometheus.CounterVec // how client ids were granted, by "how"

	idSeq    atomic.Uint64
	closing  atomic.Bool
	conns    sync.WaitGroup // one per upgraded connection, done in OnClose
	linger   atomic.Int64   // lingering closes under way (see lockedConn.Close)
	stopPing chan struct{}
	pingDone chan struct{}

	writerStarts atomic.Int64 // writer goroutines started (writer.go), for tests

	mu       sync.Mutex // guards everything below
	rooms    map[string]*room
	registry map[*conn]struct{}
	perIP    map[string]int // connections (and upgrades) per client address
	byClient map[string]int // connections (and granted upgrades) per room "\x00" client id
	pending  int            // upgrades in progress, counted against MaxConns
}

// New returns a Server for cfg. logger may be nil.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		cfg:      cfg,
		log:      logger,
		limits:   imageproc.Limits{MaxBytes: cfg.MaxBytes, MaxPixels: cfg.MaxPixels, Formats: cfg.Formats},
		broker:   cfg.Broker,
		metrics:  newMetrics(),
		rooms:    make(map[string]*room),
		registry: make(map[*conn]struct{}),
		perIP:    make(map[string]int),
		byClient: make(map[string]int),
		stopPing: make(chan struct{}),
		pingDone: make(chan struct{}),
	}
	auth, err := NewVerifier(cfg.AuthSecret, cfg.AuthPublicKeys)
	if err != nil {
		return nil, err
	}
	s.auth = auth
	for _, f := range cfg.Formats {
		s.formatNames = append(s.formatNames, string(f))
	}
	for _, o := range cfg.AllowedOrigins {
		p, _ := parseOriginPattern(o) // checked by validate
		s.origins = append(s.origins, p)
	}
	if s.broker == nil {
		s.broker = NewMemoryBroker(MemoryBrokerConfig{
			MaxLayers:        cfg.MaxLayers,
			MaxRetainedBytes: cfg.MaxRetainedBytes,
			MaxRoomBytes:     cfg.RoomRetainedBytes,
			RetainEmptyFor:   cfg.RetainEmptyFor,
			MaxRetainedRooms: cfg.MaxRooms * 4,
		})
		s.ownBroker = true
	}
	key, err := identityKey(cfg, s.broker)
	if err != nil {
		if s.ownBroker {
			_ = s.broker.Close()
		}
		return nil, err
	}
	s.idKey = key
	if sa, ok := s.broker.(SeatAsker); ok {
		sa.ServeSeats(s.answerSeat)
	}
	s.grants = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "canvasrelay_client_grants_total",
		Help: "Client ids granted at upgrade, by how: fresh (none asked), free (asked, held nothing), resume, token, refused (held, not proven: a fresh id), error (lookup failed: a fresh id).",
	}, []string{"how"})
	s.metrics.reg.MustRegister(s.grants)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.pool = imageproc.NewPool(imageproc.PoolConfig{Workers: cfg.Workers, MemoryBudget: cfg.DecodeMemory})
	opt := func(protos []string) *gws.ServerOption {
		return &gws.ServerOption{
			ReadMaxPayloadSize:  cfg.MaxBytes,
			WriteMaxPayloadSize: cfg.MaxBytes + (1 << 16),
			ReadBufferSize:      4 << 10,
			CheckUtf8Enabled:    false, // checked by the relay, which answers 1007
			HandshakeTimeout:    5 * time.Second,
			SubProtocols:        protos,
			NewSession:          func() gws.SessionStorage { return &connSession{} },
			Recovery:            gws.Recovery,
			Logger:              slogAdapter{logger},
		}
	}
	s.upPlain = gws.NewUpgrader(s, opt(nil))
	s.upProto = gws.NewUpgrader(s, opt([]string{Subprotocol}))
	s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "canvasrelay_queued_bytes", Help: "Bytes waiting in all subscribers' outbound queues.",
	}, s.queuedBytes))
	s.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "canvasrelay_members", Help: "Members joined to rooms on this node.",
	}, func() float64 {
		n := 0
		for _, r := range s.Rooms() {
			n += r.Members
		}
		return float64(n)
	}))

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/ws/", s.serveWS)
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	s.mux.HandleFunc("/readyz", s.serveReady)
	s.mux.Handle("/metrics", s.MetricsHandler())
	s.mux.HandleFunc("/api/rooms", s.serveRooms)
	go s.pingLoop()
	return s, nil
}

// Handler serves /ws/{room}, /healthz, /readyz, /metrics and /api/rooms.
func (s *Server) Handler() http.Handler { return s.mux }

// MetricsHandler serves the server's Prometheus metrics.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

// Registry is the server's own Prometheus registry.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.closing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "shutting down\n")
		return
	}
	if hc, ok := s.broker.(HealthChecker); ok {
		if err := hc.Healthy(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "broker: "+err.Error()+"\n")
			return
		}
	}
	_, _ = io.WriteString(w, "ready\n")
}

func (s *Server) nextID() string {
	return s.cfg.NodeID + "-" + strconv.FormatUint(s.idSeq.Add(1), 36)
}

// httpError refuses an upgrade before it happens.
func (s *Server) httpError(w http.ResponseWriter, status int, msg string) {
	s.metrics.upgradeErrors.WithLabelValues(strconv.Itoa(status)).Inc()
	http.Error(w, msg, status)
}

func (s *Server) queuedBytes() float64 {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.registry))
	for c := range s.registry {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var n int
	for _, c := range conns {
		st := c.q.stats()
		n += st.EventBytes + st.FrameBytes + st.LayerBytes
	}
	return float64(n)
}

func (s *Server) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, len(s.registry))
	for c := range s.registry {
		out = append(out, c)
	}
	return out
}

// pingLoop pings every connection each PingInterval and closes those that
// have sent nothing for ReadTimeout. It is the only timer of the server.
func (s *Server) pingLoop() {
	defer close(s.pingDone)
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopPing:
			return
		case now := <-t.C:
			for _, c := range s.snapshot() {
				if !c.expires.IsZero() && now.After(c.expires) {
					c.closeAfterFlush(ClosePolicy, reasonPolicy, "token expired: reconnect with a fresh token")
					continue
				}
				if c.prog.stalled(now, s.cfg.ReadTimeout) {
					c.closeWith(ClosePingTimeout, reasonReadTimeout, "a message stayed incomplete past the read timeout")
					continue
				}
				if now.Sub(time.Unix(0, c.lastRead.Load())) > s.cfg.ReadTimeout {
					c.closeWith(ClosePingTimeout, reasonReadTimeout, "no pong within the read timeout")
					continue
				}
				c.push(outItem{wire: pingFrame, size: itemOverhead}, false)
			}
		}
	}
}

// Shutdown stops accepting connections, sends close 1001 to every
// connection and waits for them to end, until ctx is done; then it closes
// the sockets that remain. It returns ctx.Err() if it had to force them.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closing.CompareAndSwap(false, true) {
		return ErrShuttingDown
	}
	close(s.stopPing)
	<-s.pingDone
	// /readyz now answers 503; give load balancers DrainDelay to notice
	// before the connections close.
	if d := s.cfg.DrainDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	for _, c := range s.snapshot() {
		c.closeWith(CloseGoingAway, reasonShutdown, "server shutting down")
	}
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		for _, c := range s.snapshot() {
			_ = c.nc.Close()
		}
		<-done
	}
	// Lingering closes each end within ShutdownGrace; they may start while
	// we wait, so poll rather than use a WaitGroup.
	for end := time.Now().Add(2 * maxLinger); s.linger.Load() > 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	s.cancel()
	s.pool.Close()
	if s.ownBroker {
		_ = s.broker.Close()
	}
	return err
}

// slogAdapter lets gws log through the injected logger.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Error(v ...any) { a.l.Error(fmt.Sprint(v...)) }
