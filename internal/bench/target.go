package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Implementations under test.
const (
	implRelay = "relay"
	implFloor = "floor"
)

// target is one server a run drives: the relay or the floor, in this process
// or reached by URL.
type target struct {
	impl      string // implRelay or implFloor
	base      string // ws://host:port
	host      string // host:port
	pid       int    // for /proc; 0 when unknown
	inProcess bool
	metrics   bool      // serves Prometheus /metrics (the relay does)
	floor     *Floor    // the in-process floor, for its connection count
	peers     []*target // a cluster's nodes, this one first
	desc      string    // where, when base does not say it all
	close     func() error
}

// where describes the target for reports.
func (t *target) where() string {
	if t.desc != "" {
		return t.desc
	}
	if t.inProcess {
		return "in-process " + t.base
	}
	return t.base
}

// startRelay returns the relay under test: the one at o.URL, or a new one in
// this process on 127.0.0.1.
func startRelay(o *Options) (*target, error) {
	if o.URL != "" {
		host, err := parseBase(o.URL)
		if err != nil {
			return nil, err
		}
		return &target{impl: implRelay, base: "ws://" + host, host: host, pid: o.PID, metrics: true, close: func() error { return nil }}, nil
	}
	return startLocalRelay(o, nil, "")
}

// startLocalRelay starts a relay in this process on 127.0.0.1, with broker
// (nil: its own in-memory one) and nodeID (empty: random).
func startLocalRelay(o *Options, broker relay.Broker, nodeID string) (*target, error) {
	srv, err := relay.New(relay.Config{
		Broker:            broker,
		NodeID:            nodeID,
		MaxBytes:          relayMaxBytes(o),
		WriteTimeout:      o.WriteTimeout,
		ShutdownGrace:     o.CloseGrace,
		MaxMembersPerRoom: 20000,
		MaxConns:          20000,
		// The bench measures fan-out, not the abuse limits: one publisher
		// sends as fast as it is acked, and every connection comes from
		// 127.0.0.1.
		FrameRate:     -1,
		ByteRate:      -1,
		MaxConnsPerIP: 20000,
	}, o.ServerLogger)
	if err != nil {
		return nil, fmt.Errorf("start relay: %w", err)
	}
	ls, err := serveLocal(o, srv, srv.Handler())
	if err != nil {
		return nil, err
	}
	return &target{
		impl: implRelay, base: "ws://" + ls.host, host: ls.host, pid: os.Getpid(), inProcess: true, metrics: true,
		close: ls.close,
	}, nil
}

// localServer is a relay in this process, served over HTTP on 127.0.0.1.
type localServer struct {
	host string // 127.0.0.1:port
	srv  *relay.Server
	hs   *http.Server
}

// serveLocal serves h (srv's handler, or one around it) on 127.0.0.1 with
// a free port, in the background until close. On failure it shuts srv down.
func serveLocal(o *Options, srv *relay.Server, h http.Handler) (*localServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return nil, fmt.Errorf("start relay: %w", err)
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(o.ServerLogger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Warn("relay serve", "err", err)
		}
	}()
	return &localServer{host: ln.Addr().String(), srv: srv, hs: hs}, nil
}

// close stops the HTTP server and the relay, within 10 s.
func (s *localServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	herr := s.hs.Shutdown(ctx)
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("relay shutdown: %w", err)
	}
	return herr
}

// startFloor returns the floor: the one at o.FloorURL, or a new one in this
// process on 127.0.0.1.
func startFloor(o *Options) (*target, error) {
	if o.FloorURL != "" {
		host, err := parseBase(o.FloorURL)
		if err != nil {
			return nil, err
		}
		return &target{impl: implFloor, base: "ws://" + host, host: host, pid: o.FloorPID, close: func() error { return nil }}, nil
	}
	f := NewFloor(FloorConfig{MaxBytes: relayMaxBytes(o), Events: o.FloorEvents, Logger: o.Logger})
	if err := f.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	base := f.URL()
	return &target{
		impl: implFloor, base: base, host: strings.TrimPrefix(base, "ws://"), pid: os.Getpid(),
		inProcess: true, floor: f, close: f.Close,
	}, nil
}

// parseBase turns ws://host:port (or http://, with or without a path) into
// host:port, refusing anything that is not this machine.
func parseBase(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrBadOptions, raw, err)
	}
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		return "", fmt.Errorf("%w: %q: TLS targets are not supported; bench a loopback ws:// server", ErrBadOptions, raw)
	default:
		return "", fmt.Errorf("%w: %q: want ws://host:port", ErrBadOptions, raw)
	}
	if u.Port() == "" {
		return "", fmt.Errorf("%w: %q: give the port, as in ws://127.0.0.1:8080", ErrBadOptions, raw)
	}
	if err := checkLoopbackHost(u.Host); err != nil {
		return "", err
	}
	return u.Host, nil
}

// checkLoopbackHost accepts host:port on 127.0.0.0/8, ::1 or localhost.
func checkLoopbackHost(hostport string) error {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrBadOptions, hostport, err)
	}
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrNotLoopback, hostport)
}

// metricsClient fetches /metrics; its timeout bounds every scrape.
var metricsClient = &http.Client{Timeout: 3 * time.Second}

// scrape reads the Prometheus text at http://host/metrics into a map from
// `name{labels}` to value.
func scrape(ctx context.Context, host string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: HTTP %d", resp.StatusCode)
	}
	return parseMetrics(bufio.NewScanner(resp.Body))
}

func parseMetrics(sc *bufio.Scanner) (map[string]float64, error) {
	out := make(map[string]float64)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// sumMetric adds every series of name whose labels contain all of want
// (each like `code="4001"`).
func sumMetric(m map[string]float64, name string, want ...string) float64 {
	var sum float64
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, name)
		if !ok || (rest != "" && rest[0] != '{') {
			continue
		}
		match := true
		for _, w := range want {
			if !strings.Contains(rest, w) {
				match = false
				break
			}
		}
		if match {
			sum += v
		}
	}
	return sum
}

// relayMaxBytes is the in-process servers' largest frame: the contract's
// default max_bytes (8 MiB), or more for bigger bench frames.
func relayMaxBytes(o *Options) int { return max(o.Size+1<<10, wire.DefaultMaxBytes) }
