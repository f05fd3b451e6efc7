package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/bench"
	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const benchHelp = `Measures the relay, and in the same invocation the "floor": the thinnest
fan-out on raw gws (one Broadcaster per frame, no validation, no queue
policy). Results are given as absolute figures and as ratios to the floor.
The patches scenario has no floor: it drives the real pages in headless
Chromium (--chromium, or $CHROMIUM), once sending patches and once full
frames only, and compares what viewers receive.
The relay runs in this process unless --url names one on this machine;
--pid then reads its CPU and RSS from /proc. Only loopback targets are allowed.

Scenarios:
%s
Exit status: 0 done, 1 a run failed (or --strict and a target missed), 2 usage.`

const benchExamples = `  canvasrelay bench fanout                          # 100 subscribers, 100 KiB frames, ack-paced
  canvasrelay bench fanout --rate 30 --json         # latency at 30 frames/s, as JSON
  canvasrelay bench fanout --cpuprofile f.prof      # then: go tool pprof -top f.prof
  canvasrelay bench stalled --quick                 # a few seconds, small N (CI smoke)
  canvasrelay bench patches --chromium /usr/bin/chromium   # whiteboard + typing in headless Chromium
  canvasrelay serve --addr 127.0.0.1:8080 & canvasrelay bench idle --url ws://127.0.0.1:8080 --pid $!`

// benchOptions are the bench flags.
type benchOptions struct {
	o          bench.Options
	size       byteSize
	json       bool
	cpuprofile string
	strict     bool
	verbose    bool
}

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	var b benchOptions
	var sb strings.Builder
	for _, s := range bench.Scenarios {
		fmt.Fprintf(&sb, "  %-11s %s\n", s, bench.Describe[s])
	}
	cmd := &cobra.Command{
		Use: `bench SCENARIO [flags]
  canvasrelay bench floor-server [--addr 127.0.0.1:0]`,
		Short:   "Measure the relay against a raw gws floor",
		Long:    fmt.Sprintf(benchHelp, sb.String()),
		Example: benchExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), &b, args, stdout, stderr)
		},
	}
	benchFlags(&b, cmd.Flags())
	cmd.AddCommand(newFloorServerCmd(stdout, stderr))
	return cmd
}

func benchFlags(b *benchOptions, fs *pflag.FlagSet) {
	o := &b.o
	fs.StringVar(&o.URL, "url", "", "relay to measure, `ws://host:port` on this machine (default: one started in this process)")
	fs.IntVar(&o.PID, "pid", 0, "the relay's process `id`, for CPU and RSS from /proc (in-process: this process)")
	fs.StringVar(&o.FloorURL, "floor-url", "", "floor started with \"canvasrelay bench floor-server\", `ws://host:port` (default: in this process)")
	fs.IntVar(&o.FloorPID, "floor-pid", 0, "the floor's process `id`")
	fs.BoolVar(&o.FloorEvents, "floor-events", false, "the floor in this process sends a frame event before each image, as the relay does, so that it pays for the contract's second message per delivery (a floor-server: start it with --events)")
	fs.IntVar(&o.Subscribers, "subscribers", 0, "fast subscribers `N` (default: fanout 100, stalled 90, renditions 30, cluster 200)")
	fs.IntVar(&o.Stalled, "stalled", 0, "subscribers that never read, `K` (default: stalled 10)")
	fs.Var(&b.size, "size", "frame `size`: bytes, or with KiB/MiB (default 100KiB)")
	fs.Float64Var(&o.Rate, "rate", 0, "publish `rate` in frames/s; 0: as fast as acks allow with --window in flight (stalled default 20)")
	fs.IntVar(&o.Window, "window", 0, "frames in flight (default 4): sent and not yet acked, or with --pace delivery not yet at every subscriber")
	fs.StringVar(&o.Reader, "reader", "client", "how subscribers read (`mode`): client (the project's relay/client: copies each frame, parses each event) or lite (bare gws noting seq, size and time only, leaving more CPU to the server)")
	fs.StringVar(&o.Pace, "pace", "ack", "what the window counts (`mode`): ack (issue 9's rate 0) or delivery (publish at most --window frames ahead of the slowest subscriber)")
	fs.IntVar(&o.Frames, "frames", 0, "publish at most `N` frames per run (default 20000, stalled 2000, renditions 20)")
	fs.Var((*optDuration)(&o.Duration), "duration", "publish for at most this `duration` per run (default: fanout 10s, stalled 20s, renditions 15s; patches: the whiteboard draws for at most 5m)")
	fs.Var((*optDuration)(&o.Drain), "drain", "wait at most this `duration` for deliveries after publishing (default 30s)")
	fs.IntVar(&o.Width, "width", 0, "renditions: source canvas width in pixels (default 1920)")
	fs.IntVar(&o.Height, "height", 0, "renditions: source canvas height in pixels (default 1080)")
	fs.IntVar(&o.Conns, "conns", 0, "idle connections `N` (default 5000)")
	fs.IntVar(&o.PerRoom, "per-room", 0, "idle connections per room (default 100)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "connections dialed at once (default 8)")
	fs.Var((*optDuration)(&o.WriteTimeout), "write-timeout", "the relay's write timeout (`duration`): in-process, set it; with --url, say what the server uses (default 10s)")
	fs.Var((*optDuration)(&o.CloseGrace), "close-grace", "in-process relay's close grace after a cut-off (`duration`, default 2s)")
	fs.StringVar(&o.Chromium, "chromium", "", "patches: the Chromium (or Chrome) binary to drive, a `path` or a name on PATH (default: $"+bench.ChromiumEnv+", else chromium, chromium-browser or google-chrome on PATH)")
	fs.StringVar(&o.Workload, "workload", "", "patches: run only this `workload`, whiteboard or typing (default both)")
	fs.IntVar(&o.Strokes, "strokes", 0, "patches: whiteboard strokes `N` (default 200)")
	fs.Var((*optDuration)(&o.Typing), "typing", "patches: how long the typing workload types (`duration`, default 30s)")
	fs.Float64Var(&o.ShareQuality, "share-quality", 0, "patches: the typing share's WebP `quality`, 0 to 1 (default 1, which Chromium encodes losslessly; the page's own default is 0.8, lossy)")
	fs.Int64Var(&o.Seed, "seed", 0, "patches: `seed` of the strokes and the typed text (default 18)")
	fs.StringVar(&o.Pictures, "pictures", "", "patches: save the sender's and the viewer's pictures at the end of each run, as PNG, in this `folder`")
	fs.IntVar(&o.Repeat, "repeat", 0, "run the scenario `N` times, alternating the order of the runs, and report medians (default 1)")
	fs.BoolVar(&o.Quick, "quick", false, "small defaults, a few seconds per scenario (CI smoke test)")
	fs.StringVar(&o.Room, "room", "bench", "room name `prefix`; each run adds a random suffix")
	fs.BoolVar(&b.json, "json", false, "print the report as JSON")
	fs.StringVar(&b.cpuprofile, "cpuprofile", "", "write a CPU profile of the first relay run to `file`")
	fs.BoolVar(&b.strict, "strict", false, "exit 1 when a target that applies to these parameters is missed")
	fs.BoolVar(&b.verbose, "verbose", false, "log progress and client details to stderr")
}

func runBench(ctx context.Context, b *benchOptions, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(errors.New("bench needs a scenario: fanout, stalled, idle, renditions, cluster or patches"))
	}
	scenario := args[0]
	if len(args) > 1 {
		return usageError(fmt.Errorf("bench %s takes one scenario, got also %q", scenario, args[1:]))
	}
	b.o.Size = int(b.size)
	level := slog.LevelWarn
	if b.verbose {
		level = slog.LevelInfo
	}
	b.o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if b.verbose {
		b.o.ServerLogger = b.o.Logger.With("in", "relay")
	}
	if b.cpuprofile != "" {
		f, err := os.Create(b.cpuprofile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		b.o.CPUProfile = f
	}

	rep, err := bench.Run(ctx, scenario, b.o)
	switch {
	case errors.Is(err, bench.ErrUnknownScenario), errors.Is(err, bench.ErrBadOptions), errors.Is(err, bench.ErrNotLoopback):
		return usageError(err)
	}
	if rep != nil {
		var werr error
		if b.json {
			werr = rep.WriteJSON(stdout)
		} else {
			werr = rep.WriteText(stdout)
		}
		if werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return fmt.Errorf("bench %s: %w", scenario, err)
	}
	if b.strict {
		var missed []string
		for _, t := range rep.Targets {
			if t.Applies && !t.Met {
				missed = append(missed, t.Name)
			}
		}
		if len(missed) > 0 {
			return fmt.Errorf("bench %s: targets missed: %s", scenario, strings.Join(missed, "; "))
		}
	}
	return nil
}

// optDuration is a duration flag whose zero value means "the scenario's
// default", so it prints no default of its own in --help.
type optDuration time.Duration

func (d *optDuration) String() string {
	if d == nil || *d == 0 {
		return ""
	}
	return time.Duration(*d).String()
}

func (d *optDuration) Type() string { return "duration" }

func (d *optDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("negative duration %s", v)
	}
	*d = optDuration(v)
	return nil
}

const floorHelp = `Runs the bench's floor, raw gws fan-out with no validation and no queue
policy, as its own process, so that its CPU and RSS can be measured apart
(canvasrelay bench ... --floor-url ws://ADDR --floor-pid PID). Loopback only.`

func newFloorServerCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		addr   string
		events bool
	)
	maxBytes := byteSize(relay.DefaultConfig().MaxBytes)
	cmd := &cobra.Command{
		Use:   "floor-server [flags]",
		Short: "Run the bench's floor (raw gws fan-out) as its own process",
		Long:  floorHelp,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFloorServer(cmd.Context(), bench.FloorConfig{MaxBytes: int(maxBytes), Events: events}, addr, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "loopback `host:port` to listen on")
	cmd.Flags().Var(&maxBytes, "max-bytes", "largest frame accepted (`size`)")
	cmd.Flags().BoolVar(&events, "events", false, "send a frame event before each image, as the relay does (bench --floor-events for a floor in the bench's process)")
	return cmd
}

func runFloorServer(ctx context.Context, cfg bench.FloorConfig, addr string, stdout, stderr io.Writer) error {
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f := bench.NewFloor(cfg)
	if err := f.Start(addr); err != nil {
		if errors.Is(err, bench.ErrNotLoopback) || errors.Is(err, bench.ErrBadOptions) {
			return usageError(err)
		}
		return err
	}
	fmt.Fprintf(stdout, "floor listening on %s (pid %d)\n", f.URL(), os.Getpid())
	<-ctx.Done()
	done := make(chan error, 1)
	go func() { done <- f.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return errors.New("floor-server: close timed out")
	}
}
