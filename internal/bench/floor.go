package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
	"github.com/lxzan/gws"
)

// Floor is the thinnest fan-out the relay is measured against, in the same
// invocation: raw gws, where each binary message is broadcast as it is, with
// one gws.Broadcaster, to every other connection of the same room. It does
// no validation and has no queue policy (gws's own write queue per
// connection is unbounded and never cuts anyone off). It sends only what a
// client needs to be paced the same way as against the relay: a hello when
// a connection opens, and an ack with the seq of each binary message after
// it has been handed to the broadcaster. Receivers get bare binary frames,
// with no frame event before them, unless FloorConfig.Events asks for one.
type Floor struct {
	// Static after NewFloor.
	upPlain *gws.Upgrader // for clients that offer no subprotocol
	upProto *gws.Upgrader // echoes canvasrelay.v1, which clients that offer it require
	log     *slog.Logger
	events  bool // send a frame event before each image

	mu     sync.Mutex // guards everything below
	rooms  map[string]map[*gws.Conn]struct{}
	conns  int
	closed bool
	hs     *http.Server
	ln     net.Listener
}

// floorSession is a connection's state, kept in gws's session storage (a
// small struct rather than gws's default map, like the relay's).
type floorSession struct {
	room   string // static after upgrade
	client string // static after upgrade: the client query parameter
	seq    uint64 // owned by the read loop
}

func (s *floorSession) Len() int                       { return 1 }
func (s *floorSession) Load(string) (any, bool)        { return s, true }
func (s *floorSession) Delete(string)                  {}
func (s *floorSession) Store(string, any)              {}
func (s *floorSession) Range(f func(string, any) bool) { f("floor", s) }

func sessionOf(c *gws.Conn) *floorSession {
	s, _ := c.Session().(*floorSession)
	return s
}

// FloorConfig configures a floor.
type FloorConfig struct {
	// MaxBytes is the largest message the floor reads.
	MaxBytes int
	// Events makes the floor send a frame event (a text message with the
	// fields it knows without decoding: type, client, seq, bytes, ts)
	// before each image, as the relay's contract makes the relay do, and
	// as the relay, in one buffer with the image, written with one write:
	// the floor then pays for the contract's second message per delivery
	// and for nothing else.
	Events bool
	// Logger may be nil.
	Logger *slog.Logger
}

// NewFloor returns a floor handler for GET /ws/{room}.
func NewFloor(cfg FloorConfig) *Floor {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Floor{log: logger, events: cfg.Events, rooms: make(map[string]map[*gws.Conn]struct{})}
	opt := func(protos []string) *gws.ServerOption {
		return &gws.ServerOption{
			ReadMaxPayloadSize:  cfg.MaxBytes,
			WriteMaxPayloadSize: cfg.MaxBytes + 1<<16,
			HandshakeTimeout:    5 * time.Second,
			SubProtocols:        protos,
			NewSession:          func() gws.SessionStorage { return &floorSession{} },
			Recovery:            gws.Recovery,
		}
	}
	f.upPlain = gws.NewUpgrader(f, opt(nil))
	f.upProto = gws.NewUpgrader(f, opt([]string{wire.Subprotocol}))
	return f
}

// ServeHTTP upgrades GET /ws/{room}.
func (f *Floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	room, ok := strings.CutPrefix(r.URL.Path, "/ws/")
	if !ok || room == "" {
		http.NotFound(w, r)
		return
	}
	up := f.upPlain
	if strings.Contains(r.Header.Get("Sec-WebSocket-Protocol"), wire.Subprotocol) {
		up = f.upProto
	}
	socket, err := up.Upgrade(w, r)
	if err != nil {
		f.log.Debug("floor upgrade", "err", err)
		return
	}
	s := sessionOf(socket)
	s.room, s.client = room, r.URL.Query().Get("client")
	go socket.ReadLoop()
}

// Start listens on addr (a loopback host:port; port 0 picks one) and serves
// in the background until Close.
func (f *Floor) Start(addr string) error {
	if err := checkLoopbackHost(addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("floor listen: %w", err)
	}
	hs := &http.Server{
		Handler:           f,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	f.mu.Lock()
	f.hs, f.ln = hs, ln
	f.mu.Unlock()
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.log.Warn("floor serve", "err", err)
		}
	}()
	return nil
}

// URL is the ws:// base URL of a started floor.
func (f *Floor) URL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln == nil {
		return ""
	}
	return "ws://" + f.ln.Addr().String()
}

// Conns returns the number of open connections.
func (f *Floor) Conns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// Close stops listening and closes every connection, which also ends any
// write stuck on a peer that does not read.
func (f *Floor) Close() error {
	f.mu.Lock()
	f.closed = true
	hs := f.hs
	var all []*gws.Conn
	for _, m := range f.rooms {
		for c := range m {
			all = append(all, c)
		}
	}
	f.mu.Unlock()
	var err error
	if hs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = hs.Shutdown(ctx)
		cancel()
	}
	for _, c := range all {
		_ = c.NetConn().Close()
	}
	return err
}

// OnOpen sends the hello and adds the connection to its room.
func (f *Floor) OnOpen(c *gws.Conn) {
	s := sessionOf(c)
	// Before it joins: no broadcast is written to it yet.
	_ = c.WriteString(`{"type":"` + wire.TypeHello + `","room":` + strconv.Quote(s.room) + `}`)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = c.NetConn().Close()
		return
	}
	m := f.rooms[s.room]
	if m == nil {
		m = make(map[*gws.Conn]struct{})
		f.rooms[s.room] = m
	}
	m[c] = struct{}{}
	f.conns++
	f.mu.Unlock()
}

// OnClose removes the connection.
func (f *Floor) OnClose(c *gws.Conn, _ error) {
	s := sessionOf(c)
	f.mu.Lock()
	if m := f.rooms[s.room]; m != nil {
		if _, ok := m[c]; ok {
			delete(m, c)
			f.conns--
		}
		if len(m) == 0 {
			delete(f.rooms, s.room)
		}
	}
	f.mu.Unlock()
}

// OnPing answers pings (clients ping every 20 s). With events, the pong
// goes through the write queue, behind the frames written there.
func (f *Floor) OnPing(c *gws.Conn, p []byte) {
	if !f.events {
		_ = c.WritePong(p)
		return
	}
	p = bytes.Clone(p) // gws reuses it after OnPing
	c.Async(func() { _ = c.WritePong(p) })
}

// OnPong does nothing.
func (f *Floor) OnPong(*gws.Conn, []byte) {}

// OnMessage broadcasts a binary message to the rest of the room and acks it.
func (f *Floor) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	if m.Opcode != gws.OpcodeBinary {
		return
	}
	s := sessionOf(c)
	s.seq++
	if f.events {
		f.broadcastWithEvent(c, s, m.Bytes())
	} else {
		// gws reuses m's buffer after this returns; the broadcast outlives it.
		bc := gws.NewBroadcaster(gws.OpcodeBinary, bytes.Clone(m.Bytes()))
		f.mu.Lock()
		for peer := range f.rooms[s.room] {
			if peer != c {
				_ = bc.Broadcast(peer, nil)
			}
		}
		f.mu.Unlock()
		_ = bc.Close()
	}
	ack := strconv.AppendUint([]byte(`{"type":"`+wire.TypeAck+`","seq":`), s.seq, 10)
	_ = c.WriteMessage(gws.OpcodeText, append(ack, '}'))
}

// broadcastWithEvent sends image, after a frame event, to every other
// connection of the room. Like the relay, it encodes the two frames once,
// in one buffer, and writes them to each connection with one write: in the
// connection's gws write queue (Async), where every other write of the
// floor to it goes too (hello is written before the connection joins), so
// that nothing interleaves. (The close frame gws writes from the read loop
// when a peer closes can meet a write in progress; the connection ends
// then anyway.)
func (f *Floor) broadcastWithEvent(from *gws.Conn, s *floorSession, image []byte) {
	b := wire.EncodeImage(floorFrameEvent(s, len(image)), image)
	f.mu.Lock()
	defer f.mu.Unlock()
	for peer := range f.rooms[s.room] {
		if peer == from {
			continue
		}
		peer.Async(func() {
			if _, err := peer.NetConn().Write(b); err != nil {
				_ = peer.NetConn().Close()
			}
		})
	}
}

// floorFrameEvent is the frame event the floor sends with Events: the
// fields of the contract's frame event that it knows without decoding the
// image.
func floorFrameEvent(s *floorSession, size int) []byte {
	client, _ := json.Marshal(s.client)
	b := []byte(`{"type":"` + wire.TypeFrame + `","client":`)
	b = append(b, client...)
	b = strconv.AppendUint(append(b, `,"seq":`...), s.seq, 10)
	b = strconv.AppendInt(append(b, `,"bytes":`...), int64(size), 10)
	b = strconv.AppendInt(append(b, `,"ts":`...), time.Now().UnixMilli(), 10)
	return append(b, '}')
}
