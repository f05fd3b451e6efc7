package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	ctx         context.Context // ends when Shutdown begins
	cancel      context.CancelFunc

	idSeq    atomic.Uint64
	closing  atomic.Bool
	conns    sync.WaitGroup // one per upgraded connection, done in OnClose
	linger   atomic.Int64   // lingering closes under way (see lockedConn.Close)
	stopPing chan struct{}
	pingDone chan struct{}

	mu       sync.Mutex // guards everything below
	rooms    map[string]*room
	registry map[*conn]struct{}
	perIP    map[string]int // connections (and upgrades) per client address
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
		stopPing: make(chan struct{}),
		pingDone: make(chan struct{}),
	}
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
			RetainEmptyFor:   cfg.RetainEmptyFor,
			MaxRetainedRooms: cfg.MaxRooms * 4,
		})
		s.ownBroker = true
	}
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

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/ws/")
	if !ValidRoom(name) {
		s.httpError(w, http.StatusBadRequest, "bad room name: use 1 to 64 characters from A-Z a-z 0-9 . _ -")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		s.httpError(w, http.StatusMethodNotAllowed, "use GET with a WebSocket upgrade")
		return
	}
	if s.closing.Load() {
		s.httpError(w, http.StatusServiceUnavailable, "server is shutting down")
		return
	}
	if !s.originAllowed(r) {
		s.httpError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	claims := Claims{Publish: true, Subscribe: true}
	if len(s.cfg.AuthSecret) > 0 {
		c, err := VerifyToken(s.cfg.AuthSecret, tokenFrom(r), time.Now())
		switch {
		case err != nil:
			s.metrics.authFailures.WithLabelValues(authReason(err)).Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="canvasrelay"`)
			s.httpError(w, http.StatusUnauthorized, err.Error()+": pass a room token as ?token= or Authorization: Bearer")
			return
		case !c.AllowsRoom(name):
			s.metrics.authFailures.WithLabelValues("room").Inc()
			s.httpError(w, http.StatusForbidden, ErrTokenRoom.Error())
			return
		case !c.Publish && !c.Subscribe:
			s.metrics.authFailures.WithLabelValues("rights").Inc()
			s.httpError(w, http.StatusForbidden, "token grants neither publish nor subscribe")
			return
		}
		claims = c
	}
	q := r.URL.Query()
	client := q.Get("client")
	if client == "" {
		client = randomID(10)
	} else if !validToken(client, 64) {
		s.httpError(w, http.StatusBadRequest, "bad client id: use 1 to 64 characters from A-Z a-z 0-9 . _ -")
		return
	}
	rend, err := parseRendition(q)
	if err != nil {
		s.httpError(w, http.StatusBadRequest, "bad rendition: "+err.Error())
		return
	}
	display := cleanName(q.Get("name"))
	if display == "" {
		display = "guest-" + client[:min(4, len(client))]
	}

	ip := s.clientIP(r)
	rm, err := s.acquire(name, rend, ip)
	if err != nil {
		status := http.StatusServiceUnavailable
		if errors.Is(err, ErrTooManyFromIP) {
			status = http.StatusTooManyRequests
		}
		s.httpError(w, status, err.Error())
		return
	}
	up := s.upPlain
	if offersSubprotocol(r.Header, Subprotocol) {
		up = s.upProto
	}
	// Hijack here rather than in gws, so that every write to the socket,
	// gws's close frames included, goes through one lock.
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.release(rm, nil, ip)
		s.httpError(w, http.StatusInternalServerError, "connection cannot be upgraded")
		return
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		s.release(rm, nil, ip)
		s.log.Debug("hijack failed", "room", name, "err", err)
		return
	}
	nc := &lockedConn{Conn: raw, linger: min(s.cfg.ShutdownGrace, maxLinger), lingering: &s.linger}
	rd, br := newCountingReader(nc, brw.Reader)
	socket, err := up.UpgradeFromConn(nc, br, r)
	if err != nil {
		s.release(rm, nil, ip)
		s.log.Debug("upgrade failed", "room", name, "err", err)
		return
	}
	c := &conn{
		srv:    s,
		ws:     socket,
		nc:     nc,
		prog:   progress{rd: rd, br: br},
		id:     s.nextID(),
		client: client,
		name:   display,
		room:   rm,
		rend:   rend,
		ip:     ip,
		q:      newOutQueue(s.cfg.EventQueueMaxBytes, s.cfg.QueueMaxBytes),
		start:  time.Now(),
	}
	c.canPublish, c.canSubscribe = claims.Publish, claims.Subscribe
	if claims.Expires > 0 {
		c.expires = time.Unix(claims.Expires, 0)
	}
	c.limits = newConnLimits(s.cfg)
	c.log = s.log.With("room", name, "conn", c.id, "client", client)
	c.touch()
	c.prog.messageDone(time.Now())
	socket.Session().Store("conn", c)
	s.mu.Lock()
	s.pending--
	s.registry[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.connections.Inc()
	s.conns.Add(1)
	go socket.ReadLoop()
}

func offersSubprotocol(h http.Header, want string) bool {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == want {
				return true
			}
		}
	}
	return false
}

// acquire reserves a place in room name for an upgrade in progress.
func (s *Server) acquire(name string, rend *rendition, ip string) (*room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.registry)+s.pending >= s.cfg.MaxConns {
		return nil, ErrTooManyConns
	}
	if s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		return nil, ErrTooManyFromIP
	}
	rm := s.rooms[name]
	if rm == nil {
		if len(s.rooms) >= s.cfg.MaxRooms {
			return nil, ErrTooManyRooms
		}
		rm = newRoom(s, name)
		sub, err := s.broker.Subscribe(name, rm.deliver)
		if err != nil {
			return nil, fmt.Errorf("relay: subscribe room %q: %w", name, err)
		}
		rm.sub = sub
		s.rooms[name] = rm
		s.metrics.rooms.Inc()
	} else if rm.refs >= s.cfg.MaxMembersPerRoom {
		return nil, ErrRoomFull
	} else if !rm.hasRoomFor(rend, s.cfg.MaxRenditionsPerRoom) {
		return nil, ErrTooManyRenditions
	}
	rm.refs++
	s.pending++
	s.perIP[ip]++
	return rm, nil
}

// release gives back a place taken by acquire; c is nil when the upgrade
// failed. The last one out closes the room's subscription.
func (s *Server) release(rm *room, c *conn, ip string) {
	s.mu.Lock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	if c == nil {
		s.pending--
	} else {
		delete(s.registry, c)
	}
	rm.refs--
	var sub Subscription
	if rm.refs == 0 {
		delete(s.rooms, rm.name)
		sub = rm.sub
		s.metrics.rooms.Dec()
	}
	s.mu.Unlock()
	if sub != nil {
		_ = sub.Close()
		if rm.game != nil {
			rm.game.Close()
		}
	}
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
		n += st.EventBytes + st.FrameBytes
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

func authReason(err error) string {
	switch {
	case errors.Is(err, ErrTokenMissing):
		return "missing"
	case errors.Is(err, ErrTokenExpired):
		return "expired"
	case errors.Is(err, ErrTokenSignature):
		return "signature"
	default:
		return "malformed"
	}
}

// Closing reports whether Shutdown has begun.
func (s *Server) Closing() bool { return s.closing.Load() }

// --- gws.Event ---

// OnOpen joins the room. It runs on the connection's read goroutine.
func (s *Server) OnOpen(socket *gws.Conn) {
	c := connOf(socket)
	if c.closing.Load() {
		return
	}
	if err := c.room.join(c); err != nil {
		c.log.Error("join", "err", err)
		c.closeWith(CloseGoingAway, reasonError, "could not join the room")
		return
	}
	c.joined = true
	c.log.Debug("open", "remote", socket.RemoteAddr().String())
}

// OnClose leaves the room and accounts for the reason.
func (s *Server) OnClose(socket *gws.Conn, err error) {
	c := connOf(socket)
	c.closing.Store(true)
	c.closeQueue()
	if c.joined {
		c.room.leave(c)
	}
	s.release(c.room, c, c.ip)
	reason, code := classifyClose(c, err)
	s.metrics.disconnects.WithLabelValues(reason, strconv.Itoa(code)).Inc()
	s.metrics.connections.Dec()
	lvl := slog.LevelDebug
	if reason == reasonError {
		lvl = slog.LevelWarn
	}
	c.log.Log(context.Background(), lvl, "closed", "reason", reason, "code", code, "err", err, "dur", time.Since(c.start).Round(time.Millisecond))
	s.conns.Done()
}

func classifyClose(c *conn, err error) (string, int) {
	if r := c.reason.Load(); r != nil {
		return r.reason, r.code
	}
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return reasonClient, int(ce.Code)
	}
	if sc, ok := err.(interface{ Uint16() uint16 }); ok {
		code := int(sc.Uint16())
		if code == CloseTooBig {
			return reasonTooBig, code
		}
		return reasonError, code
	}
	// The relay sets no read deadlines (pingLoop closes silent peers with
	// 4003), so a timeout is a write that did not finish: a slow consumer.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return reasonSlowConsumer, CloseSlowConsumer
	}
	return reasonClient, closeAbnormal // the peer went away without a close frame
}

// OnPing answers with a pong through the connection's queue.
func (s *Server) OnPing(socket *gws.Conn, payload []byte) {
	c := connOf(socket)
	c.touch()
	c.prog.control(len(payload))
	c.push(outItem{wire: encodeFrame(opPong, payload), size: len(payload) + itemOverhead}, false)
}

// OnPong notes that the peer is alive.
func (s *Server) OnPong(socket *gws.Conn, payload []byte) {
	c := connOf(socket)
	c.touch()
	c.prog.control(len(payload))
}

// OnMessage handles one message from the peer. gws reuses its buffer after
// this returns.
func (s *Server) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := connOf(socket)
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	c.prog.messageDone(now)
	if c.closing.Load() {
		return
	}
	switch msg.Opcode {
	case gws.OpcodeBinary:
		c.onBinary(msg.Bytes())
	case gws.OpcodeText:
		c.onText(msg.Bytes())
	}
}

// slogAdapter lets gws log through the injected logger.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Error(v ...any) { a.l.Error(fmt.Sprint(v...)) }
