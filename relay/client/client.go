package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Subprotocol is the WebSocket subprotocol this client offers.
const Subprotocol = wire.Subprotocol

// eventBufferBytes caps the bytes of events waiting for a slow reader
// (a single bigger event is still kept, alone).
const eventBufferBytes = 4 << 20

// Config says where and how to connect. Every zero value is a documented default.
type Config struct {
	// URL of the room: ws(s)://host/ws/ROOM or the page URL http(s)://host/r/ROOM
	// (see NormalizeURL). Required.
	URL string
	// Name is the display name, sent as the `name` query parameter. Empty: not sent.
	Name string
	// ClientID is the stable client id (`client` query parameter). Empty: the
	// server makes one up. The Client reconnects with the id in force (the
	// newest hello's), proven by its resume.
	ClientID string
	// Resume proves ClientID (`resume` query parameter): the Hello.Resume a
	// server gave this id before. Without it, a server grants ClientID only
	// when the id holds nothing in the room, and gives a fresh id otherwise.
	// Empty: none on the first dial; reconnects send the newest hello's.
	Resume string
	// Token is sent as "Authorization: Bearer <Token>". Empty: no header.
	Token string
	// Header holds extra handshake headers (for example Origin). Nil: none.
	Header http.Header
	// TLSConfig is used for wss. Nil: system roots, server name from the URL.
	TLSConfig *tls.Config

	// HandshakeTimeout bounds one connection attempt: TCP, TLS, upgrade and the
	// server's hello. Default 10s.
	HandshakeTimeout time.Duration
	// Reconnect makes the Client redial after a lost connection. False: a lost
	// connection stops the Client (Done is closed, Err says why).
	Reconnect bool
	// MaxReconnects is how many redials in a row may fail before the Client
	// gives up (ErrGaveUp). 0: no limit (until Close).
	MaxReconnects int
	// MinBackoff is the first redial delay. Default 100ms.
	MinBackoff time.Duration
	// MaxBackoff caps the redial delay. Default 5s.
	MaxBackoff time.Duration

	// Window is how many binary frames may be in flight (sent, not yet answered)
	// at once; SendAsync waits for a free slot. Default 8.
	Window int
	// EventBuffer is how many events wait for a slow reader of Events before the
	// oldest is dropped. Default 256.
	EventBuffer int
	// FrameBuffer is how many frames wait for a slow reader of Frames before the
	// oldest is dropped. Default 16.
	FrameBuffer int
	// FrameBufferBytes caps the bytes of waiting frames the same way (a single
	// bigger frame is still kept, alone). Default 64 MiB.
	FrameBufferBytes int
	// MaxMessageBytes is the largest message accepted from the server. Default 64 MiB.
	MaxMessageBytes int

	// PingInterval is how often the Client pings the server. Default 20s;
	// negative: no pings and no read deadline.
	PingInterval time.Duration
	// ReadTimeout ends a connection on which nothing (message, ping or pong) has
	// arrived for this long. Default 3 × PingInterval.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write (shortened by a Send's context deadline).
	// Default 30s.
	WriteTimeout time.Duration

	// FullFrames asks the relay for full frames only: without it the
	// Client asks for patches (the query parameter patches=1, unless the
	// URL already sets patches) and applies them itself, so Frames always
	// carries whole pictures either way. Patches cost less bandwidth;
	// applying them costs a decode and a PNG encode of the picture here.
	FullFrames bool

	// Logger gets connection events. Nil: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.MaxBackoff, 5*time.Second)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	defInt(&c.Window, 8)
	defInt(&c.EventBuffer, 256)
	defInt(&c.FrameBuffer, 16)
	defInt(&c.FrameBufferBytes, 64<<20)
	defInt(&c.MaxMessageBytes, 64<<20)
	if c.PingInterval == 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PingInterval > 0 {
		def(&c.ReadTimeout, 3*c.PingInterval)
	} else {
		c.ReadTimeout = 0
	}
	def(&c.WriteTimeout, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Stats are counters over the Client's whole life, all connections included.
type Stats struct {
	Connects      uint64 // successful connections, the first included
	Sent          uint64 // binary frames written
	Acked         uint64 // frames answered with ack
	Rejected      uint64 // frames answered with error
	Lost          uint64 // frames whose connection ended before their answer
	DroppedFrames uint64 // received frames dropped because Frames was not read fast enough
	DroppedEvents uint64 // received events dropped because Events was not read fast enough
	BadPatches    uint64 // received patches that could not be applied (see Patch)
}

// Client is a connection to one room that redials when Config.Reconnect is set.
// It is safe for concurrent use. Always call Close.
type Client struct {
	cfg  Config       // Static after Dial (defaults applied).
	base *url.URL     // Static: the normalized room URL.
	log  *slog.Logger // Static.
	bo   backoff      // Static.

	events *queue[Event] // Static; pushed by read loops only.
	frames *queue[Frame] // Static; pushed by read loops only.
	window chan struct{} // Static; one token per frame in flight.

	ctx       context.Context // Static; canceled by Close, bounds redials.
	cancel    context.CancelFunc
	done      chan struct{} // Closed when the supervisor has stopped.
	finish    chan struct{} // Closed with done: no more pushes, pumps drain.
	stopPumps chan struct{} // Closed by Close: pumps stop at once.
	pumps     sync.WaitGroup
	closeOnce sync.Once

	mu       sync.Mutex    // Guards the fields below.
	cur      *conn         // the live connection; nil while redialing and after the end
	up       chan struct{} // closed when cur is set; replaced when cur is lost
	clientID string        // cfg.ClientID, then the newest hello's: the id in force
	resume   string        // cfg.Resume, then the newest hello's: proves clientID
	hello    Hello         // the newest hello
	err      error         // why the Client stopped; set before done is closed
	connSeq  uint64        // connections made, for logs

	connects, sent, acked, rejected, lost, badPatches atomic.Uint64
}

// Dial connects to the room and returns once the server's hello has arrived.
// ctx bounds this first connection only; later redials are bounded by Close.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	u, err := NormalizeURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		base:      u,
		log:       cfg.Logger.With("room", RoomOf(u)),
		bo:        backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff},
		events:    newQueue[Event](cfg.EventBuffer, eventBufferBytes),
		frames:    newQueue[Frame](cfg.FrameBuffer, cfg.FrameBufferBytes),
		window:    make(chan struct{}, cfg.Window),
		done:      make(chan struct{}),
		finish:    make(chan struct{}),
		stopPumps: make(chan struct{}),
		up:        make(chan struct{}),
		clientID:  cfg.ClientID,
		resume:    cfg.Resume,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cn, err := c.dial(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.pumps.Add(2)
	go func() { defer c.pumps.Done(); c.events.run(c.finish, c.stopPumps) }()
	go func() { defer c.pumps.Done(); c.frames.run(c.finish, c.stopPumps) }()
	c.setConn(cn)
	go c.supervise(cn)
	return c, nil
}

// Events delivers text events: hello (on every connection), presence, chat,
// game, error (those that answer no frame of this Client) and unknown types.
// Frame events come paired with their image on Frames; acks go to their
// senders. The channel is closed after the Client stops and the queue drains,
// or at once by Close.
func (c *Client) Events() <-chan Event { return c.events.out }

// Frames delivers received images, each paired with its `frame` event.
// Closed like Events.
func (c *Client) Frames() <-chan Frame { return c.frames.out }

// Done is closed when the Client has stopped: closed, connection lost without
// Reconnect, or gave up reconnecting. Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the Client stopped (ErrClosed after Close), or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Hello returns the newest hello event (limits, client id, room).
func (c *Client) Hello() Hello {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hello
}

// ClientID returns the client id in force: the newest hello's (the one
// given, or one the server made up).
func (c *Client) ClientID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientID
}

// Resume returns the proof of ClientID that the newest hello gave (empty
// from a server that gives none). Keep it with ClientID to reconnect as the
// same client later (Config.Resume).
func (c *Client) Resume() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resume
}

// Room returns the room name.
func (c *Client) Room() string { return RoomOf(c.base) }

// Connected reports whether a connection is up right now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

// WaitConnected waits until a connection is up (at once if one is), the
// Client stops (its Err), or ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	_, err := c.current(ctx)
	return err
}

// Stats returns the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Connects:      c.connects.Load(),
		Sent:          c.sent.Load(),
		Acked:         c.acked.Load(),
		Rejected:      c.rejected.Load(),
		Lost:          c.lost.Load(),
		DroppedFrames: c.frames.droppedCount(),
		DroppedEvents: c.events.droppedCount(),
		BadPatches:    c.badPatches.Load(),
	}
}

// Close sends close 1000 on the live connection, stops redialing, waits for
// the Client's goroutines and closes Events and Frames. Frames in flight fail
// with ErrConnectionLost. It is safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		<-c.done
		close(c.stopPumps)
		c.pumps.Wait()
	})
	return nil
}

// supervise owns the connection cycle: wait for the live connection to end,
// then redial (or stop).
func (c *Client) supervise(cn *conn) {
	defer c.stop()
	for {
		select {
		case <-cn.closed:
		case <-c.ctx.Done():
			cn.closeNormal()
			<-cn.closed
			c.unsetConn(cn)
			c.setErr(ErrClosed)
			return
		}
		c.unsetConn(cn)
		cause := cn.cause()
		if !c.cfg.Reconnect {
			c.setErr(fmt.Errorf("%w: %w", ErrConnectionLost, cause))
			return
		}
		c.log.Info("connection lost, reconnecting", "conn", cn.id, "err", cause)
		if cn = c.redial(); cn == nil {
			return
		}
		c.setConn(cn)
	}
}

// redial dials with backoff until it succeeds, Close is called, or it gives up
// (then it sets c.err and returns nil).
func (c *Client) redial() *conn {
	for attempt := 0; ; attempt++ {
		t := time.NewTimer(c.bo.delay(attempt, nil))
		select {
		case <-c.ctx.Done():
			t.Stop()
			c.setErr(ErrClosed)
			return nil
		case <-t.C:
		}
		cn, err := c.dial(c.ctx)
		if err == nil {
			c.log.Info("reconnected", "conn", cn.id, "attempts", attempt+1)
			return cn
		}
		if c.ctx.Err() != nil {
			c.setErr(ErrClosed)
			return nil
		}
		var he *HandshakeError
		if errors.As(err, &he) && he.permanent() {
			c.setErr(fmt.Errorf("%w: %w", ErrGaveUp, err))
			return nil
		}
		if c.cfg.MaxReconnects > 0 && attempt+1 >= c.cfg.MaxReconnects {
			c.setErr(fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, attempt+1, err))
			return nil
		}
		c.log.Debug("redial failed", "attempt", attempt+1, "err", err)
	}
}

func (c *Client) setConn(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = cn
	close(c.up)
}

func (c *Client) unsetConn(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == cn {
		c.cur = nil
		c.up = make(chan struct{})
	}
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// stop runs when the supervisor returns: every read loop has ended by then,
// so nothing pushes to the queues any more.
func (c *Client) stop() {
	c.setErr(ErrClosed)
	close(c.finish)
	close(c.done)
}

// current returns the live connection, waiting for a redial if one is under way.
func (c *Client) current(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		cn, up, err := c.cur, c.up, c.err
		c.mu.Unlock()
		if cn != nil {
			return cn, nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-up:
		case <-c.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for connection: %w", ctx.Err())
		}
	}
}
