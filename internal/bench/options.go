package bench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"runtime/pprof"
	"time"
)

// Options configure one invocation. A zero field takes the scenario's
// default (see defaults), which Quick makes small: a few seconds per
// scenario, for CI.
type Options struct {
	// URL is the relay to measure, ws://host:port on this machine. Empty:
	// a relay started in this process (relay.New on 127.0.0.1:0).
	URL string
	// PID is the relay's process, for its CPU and RSS from /proc. With an
	// in-process relay it is this process (which then includes the clients).
	// 0 with URL: not measured.
	PID int
	// FloorURL is a floor started elsewhere (canvasrelay bench floor-server).
	// Empty: a floor in this process.
	FloorURL string
	// FloorPID is the floor's process, like PID.
	FloorPID int
	// FloorEvents makes the floor in this process send a frame event before
	// each image (FloorConfig.Events), as the relay does. A floor at
	// FloorURL is started with "floor-server --events" instead.
	FloorEvents bool

	// Subscribers is the number of fast subscribers (fanout default 100,
	// stalled default 90).
	Subscribers int
	// Stalled is the number of subscribers that never read (stalled default 10).
	Stalled int
	// Size is the frame size in bytes (default 100 KiB).
	Size int
	// Rate is the publish rate in frames/s. 0: as fast as the ack window
	// allows (fanout default); stalled defaults to 20.
	Rate float64
	// Window is how many frames may be in flight (default 4): sent and not
	// yet acked, or with Pace "delivery", not yet at every fast subscriber.
	Window int
	// Pace is what the window counts: PaceAck (default) or PaceDelivery.
	Pace string
	// Reader is how fast subscribers read: ReaderClient (default, the
	// project's client) or ReaderLite.
	Reader string
	// Frames bounds the frames published per run (fanout and cluster
	// default 20000, so that Duration is what ends a run; stalled 2000).
	Frames int
	// Duration bounds the publishing time per run (fanout default 10 s,
	// stalled 20 s).
	Duration time.Duration
	// Drain bounds the wait for acks and deliveries after publishing
	// (default 30 s).
	Drain time.Duration

	// Width and Height are the renditions scenario's canvas (default
	// 1920x1080).
	Width, Height int

	// Conns is the number of idle connections (default 5000).
	Conns int
	// PerRoom is how many idle connections share a room (default 100).
	PerRoom int
	// Concurrency is how many connections are dialed at once (default 8).
	Concurrency int

	// WriteTimeout is the in-process relay's Config.WriteTimeout, after which
	// a stalled subscriber is cut off with 4001 (default 10 s, the server's).
	// With URL, say what the server was started with: it bounds the wait for
	// cut-offs.
	WriteTimeout time.Duration
	// CloseGrace is the in-process relay's Config.ShutdownGrace (default 2 s).
	CloseGrace time.Duration

	// Chromium is the browser the patches scenario drives (a path or a
	// name on PATH). Empty: $CHROMIUM, else chromium, chromium-browser or
	// google-chrome on PATH.
	Chromium string
	// Workload limits the patches scenario to one workload:
	// WorkloadWhiteboard or WorkloadTyping (empty: both).
	Workload string
	// Strokes is the whiteboard workload's number of strokes (patches
	// default 200, quick 10).
	Strokes int
	// Typing is how long the typing workload types (patches default 30 s,
	// quick 3 s).
	Typing time.Duration
	// ShareQuality is the typing workload's screen share encoder quality
	// (WebP, the page's default format): 1 (the default) makes Chromium
	// encode WebP losslessly, so the viewer's picture can equal the
	// screen's; the page's own default is 0.8 (lossy).
	ShareQuality float64
	// Seed makes the patches workloads' strokes and text (default 18).
	Seed int64
	// Pictures, if set, is a folder where the patches scenario saves the
	// sender's and the viewer's pictures at the end of each run (PNG).
	Pictures string

	// Quick makes every default small, for a smoke test.
	Quick bool
	// Room prefixes the room names (default "bench"); a random suffix makes
	// every run's room new.
	Room string
	// CPUProfile, if set, receives a CPU profile of the first relay run.
	CPUProfile io.Writer
	// Logger gets progress and client logs. Nil: discard.
	Logger *slog.Logger
	// ServerLogger is the in-process relay's logger. Nil: discard (a bench
	// closes thousands of connections at once, which the relay logs).
	ServerLogger *slog.Logger

	// Repeat runs the scenario this many times, alternating the order of
	// its runs, and reports the median of each ratio and target (default 1).
	Repeat int

	prof    *profileState // shared by the repeats
	reverse bool          // run the plan backwards (odd repeats)
}

// profileState says whether the CPU profile has been taken: it covers the
// first relay run only.
type profileState struct{ done bool }

// Publisher pacing: what the window of frames in flight counts.
const (
	PaceAck      = "ack"      // frames sent and not yet acked (issue 9's rate 0)
	PaceDelivery = "delivery" // frames not yet received by every fast subscriber
)

// defaults fills zero fields for scenario.
func (o Options) defaults(scenario string) Options {
	q := o.Quick
	pick := func(full, quick int) int {
		if q {
			return quick
		}
		return full
	}
	pickD := func(full, quick time.Duration) time.Duration {
		if q {
			return quick
		}
		return full
	}
	setI := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	setD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	switch scenario {
	case "stalled":
		setI(&o.Subscribers, pick(90, 3))
		setI(&o.Stalled, pick(10, 1))
		setI(&o.Size, pick(100<<10, 64<<10))
		if o.Rate == 0 && !q {
			o.Rate = 20
		}
		setI(&o.Frames, pick(2000, 200))
		setD(&o.Duration, pickD(20*time.Second, time.Second))
		setD(&o.WriteTimeout, pickD(10*time.Second, 300*time.Millisecond))
		setD(&o.CloseGrace, pickD(2*time.Second, 200*time.Millisecond))
	case "renditions":
		setI(&o.Subscribers, pick(30, 3))
		setI(&o.Width, pick(1920, 640))
		setI(&o.Height, pick(1080, 360))
		if o.Rate == 0 {
			o.Rate = 2
		}
		setI(&o.Frames, pick(20, 3))
		setD(&o.Duration, pickD(15*time.Second, 2*time.Second))
	case "patches":
		setI(&o.Strokes, pick(200, 10))
		setD(&o.Typing, pickD(30*time.Second, 3*time.Second))
		// Duration bounds the whiteboard's drawing time per run.
		setD(&o.Duration, pickD(5*time.Minute, time.Minute))
		if o.Seed == 0 {
			o.Seed = 18
		}
		if o.ShareQuality == 0 {
			o.ShareQuality = 1
		}
	case "cluster":
		setI(&o.Subscribers, pick(200, 4)) // 100 per node, as in issue 8
		setI(&o.Size, pick(100<<10, 16<<10))
		setD(&o.Duration, pickD(10*time.Second, time.Second))
		setI(&o.Frames, pick(20000, 100))
	default:
		setI(&o.Subscribers, pick(100, 4))
		setI(&o.Size, pick(100<<10, 16<<10))
		setD(&o.Duration, pickD(10*time.Second, time.Second))
	}
	setI(&o.Frames, pick(20000, 300)) // fanout: the duration is what bounds a run
	setI(&o.Window, 4)
	if o.Pace == "" {
		o.Pace = PaceAck
	}
	if o.Reader == "" {
		o.Reader = ReaderClient
	}
	setD(&o.Drain, pickD(30*time.Second, 5*time.Second))
	setI(&o.Conns, pick(5000, 100))
	setI(&o.PerRoom, pick(100, 20))
	setI(&o.Concurrency, pick(8, 4))
	setD(&o.WriteTimeout, 10*time.Second)
	setD(&o.CloseGrace, 2*time.Second)
	setI(&o.Repeat, 1)
	if o.prof == nil {
		o.prof = &profileState{}
	}
	if o.Room == "" {
		o.Room = "bench"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ServerLogger == nil {
		o.ServerLogger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o *Options) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadOptions}, a...)...)
	}
	switch {
	case o.Subscribers > 5000:
		return bad("%d subscribers: at most 5000", o.Subscribers)
	case o.Stalled > 1000:
		return bad("%d stalled subscribers: at most 1000", o.Stalled)
	case o.Size > 8<<20:
		return bad("frame size %d: at most 8 MiB", o.Size)
	case o.Rate < 0 || o.Rate > 100000:
		return bad("rate %g: want 0 (ack-paced) to 100000 frames/s", o.Rate)
	case o.Window > 1024:
		return bad("window %d: at most 1024", o.Window)
	case o.Frames > 1_000_000:
		return bad("%d frames: at most 1,000,000", o.Frames)
	case o.Duration > 10*time.Minute || o.Drain > 10*time.Minute:
		return bad("duration and drain are at most 10m")
	case o.Conns > 100000:
		return bad("%d connections: at most 100,000", o.Conns)
	case o.Concurrency > 256:
		return bad("concurrency %d: at most 256", o.Concurrency)
	case o.Pace != PaceAck && o.Pace != PaceDelivery:
		return bad("pace %q: want ack or delivery", o.Pace)
	case o.Reader != ReaderClient && o.Reader != ReaderLite:
		return bad("reader %q: want client or lite", o.Reader)
	case o.Repeat > 50:
		return bad("repeat %d: at most 50", o.Repeat)
	case o.Strokes > 5000:
		return bad("%d strokes: at most 5000", o.Strokes)
	case o.Workload != "" && o.Workload != WorkloadWhiteboard && o.Workload != WorkloadTyping:
		return bad("workload %q: want whiteboard or typing (empty: both)", o.Workload)
	case o.ShareQuality < 0 || o.ShareQuality > 1:
		return bad("share quality %g: want 0 to 1", o.ShareQuality)
	case o.Typing > 10*time.Minute:
		return bad("typing %s: at most 10m", o.Typing)
	case o.PID < 0 || o.FloorPID < 0:
		return bad("pid must be positive")
	case o.FloorEvents && o.FloorURL != "":
		return bad("floor events apply to the floor in this process; start the one at %s with \"floor-server --events\"", o.FloorURL)
	}
	if !validRoomPrefix(o.Room) {
		return bad("room prefix %q: use up to 40 characters from A-Z a-z 0-9 . _ -", o.Room)
	}
	return nil
}

func validRoomPrefix(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// roomName returns a new room name for one run.
func (o *Options) roomName(run string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return o.Room + "-" + run + "-" + hex.EncodeToString(b[:])
}

// startProfile starts the CPU profile for the first relay run and returns
// the function that stops it.
func (o *Options) startProfile(impl string) func() {
	if o.CPUProfile == nil || o.prof == nil || o.prof.done || impl != implRelay {
		return func() {}
	}
	o.prof.done = true
	if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
		o.Logger.Warn("cpu profile", "err", err)
		return func() {}
	}
	return pprof.StopCPUProfile
}
