package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/client"
	"github.com/canvasrelay/canvasrelay/relay/wire"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const sendHelp = `Uploads images to a room, one at a time, and waits for each one's receipt
(the relay's ack, or its error and the reason). A DIR sends its .png, .jpg,
.jpeg, .gif and .webp files in name order; a GLOB is expanded by send itself.
URL is the room's page (http(s)://host/r/ROOM) or its socket (ws(s)://host/ws/ROOM).

Each image is first checked here as the relay checks it (its header and
structure, without decoding): a truncated, corrupt or padded one is reported
as rejected (invalid_image) and not sent.

On a terminal a progress bar shows files, bytes and rate; otherwise each file
gets one line on stdout. A summary names every file that was rejected or not
acknowledged, and why.

With --watch, send mirrors one file (a screenshot, a render): it sends the
file again each time it changes, skips content it has already sent, and
reconnects by itself. It runs until interrupted. A file that fails the local
check is looked at again after --debounce (it may still be being written) and
is never sent half-written; one that stays broken is reported as rejected.

Exit status: 0 every file accepted; 1 a file was rejected or not
acknowledged; 2 usage or connection error.`

const sendExamples = `  canvasrelay send http://localhost:8080/r/demo shots/
  canvasrelay send ws://localhost:8080/ws/demo 'frames/*.png' --fps 2 --loop
  canvasrelay send --retry --name uploader https://relay.example.com/r/team a.png b.jpg
  canvasrelay send --watch --name desktop http://localhost:8080/r/demo /tmp/screen.png
  CANVASRELAY_TOKEN=… canvasrelay send --watch --interval 1s wss://relay.example.com/ws/demo shot.png`

// sendOptions are the send flags.
type sendOptions struct {
	connOptions
	fps      float64
	loop     passes
	retry    bool
	retryFor time.Duration
	progress string
	watch    bool
	interval time.Duration
	debounce time.Duration
	patches  bool
}

func newSendCmd(stdout, stderr io.Writer) *cobra.Command {
	var o sendOptions
	cmd := &cobra.Command{
		Use: `send URL FILE|DIR|GLOB... [flags]
  canvasrelay send --watch URL FILE [flags]`,
		Short:   "Upload images to a room, one receipt per file",
		Long:    sendHelp,
		Example: sendExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSend(cmd.Context(), &o, args, stdout, stderr)
		},
	}
	sendFlags(&o, cmd.Flags())
	return cmd
}

func sendFlags(o *sendOptions, fs *pflag.FlagSet) {
	o.connOptions.register(fs, "connect timeout, and how long to wait for each file's receipt")
	o.loop = 1
	fs.Float64Var(&o.fps, "fps", 0, "send at most `N` files per second (0: as fast as receipts come)")
	loopFlag(fs, &o.loop, "repeat the files: --loop until interrupted, --loop=N (with =) for N passes")
	fs.BoolVar(&o.retry, "retry", false, "when the connection drops, reconnect and send the files that got no receipt again (3 tries each)")
	fs.DurationVar(&o.retryFor, "retry-for", time.Minute, "with --retry, how long to keep trying to reconnect")
	fs.StringVar(&o.progress, "progress", "auto", "`mode`: auto (a bar on a terminal, else lines), bar, lines or none")
	fs.BoolVar(&o.watch, "watch", false, "mirror one FILE: send it again whenever its content changes")
	fs.DurationVar(&o.interval, "interval", 0, "with --watch, poll the file every `duration` instead of using file notifications")
	fs.DurationVar(&o.debounce, "debounce", 100*time.Millisecond, "with --watch, wait this long after the last change before sending")
	fs.BoolVar(&o.patches, "patches", true, "with --watch, send only the changed rectangle when it is under half the picture (a full frame at least every 30 s, and whenever the relay asks)")
}

func runSend(ctx context.Context, o *sendOptions, args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 {
		return usageError(errors.New("send: missing URL"))
	}
	url := args[0]
	if err := checkURL(url); err != nil {
		return err
	}
	switch {
	case o.fps < 0:
		return usageError(errors.New("send: --fps must be ≥ 0"))
	case o.timeout <= 0:
		return usageError(errors.New("send: --timeout must be > 0"))
	case o.progress != "auto" && o.progress != "bar" && o.progress != "lines" && o.progress != "none":
		return usageError(fmt.Errorf("send: --progress %q: want auto, bar, lines or none", o.progress))
	}
	if o.watch {
		if len(args) != 2 {
			return usageError(errors.New("send --watch: want exactly one FILE"))
		}
		return runMirror(ctx, url, args[1], o, stdout, stderr)
	}
	if o.interval != 0 {
		return usageError(errors.New("send: --interval needs --watch"))
	}
	if len(args) < 2 {
		return usageError(errors.New("send: missing FILE, DIR or GLOB"))
	}
	files, err := expandInputs(args[1:])
	if err != nil {
		return usageError(fmt.Errorf("send: %w", err))
	}
	cfg := o.config(url, stderr)
	cfg.Window = 1
	cfg.FrameBuffer, cfg.FrameBufferBytes = 1, 1 // a sender keeps no frames of others
	if o.retry {
		cfg.Reconnect = true
		cfg.MaxBackoff = 2 * time.Second
	}
	c, err := dialClient(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	u := newUploader(c, o, files, stdout, stderr)
	u.run(ctx)
	return u.finish()
}

// imageExts are the files a DIR argument contributes.
var imageExts = []string{".png", ".jpg", ".jpeg", ".gif", ".webp"}

// expandInputs turns FILE, DIR and GLOB arguments into a list of files.
func expandInputs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil && strings.ContainsAny(a, "*?[") {
			m, gerr := filepath.Glob(a)
			if gerr != nil {
				return nil, fmt.Errorf("%s: %w", a, gerr)
			}
			n := 0
			for _, p := range m {
				if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
					out = append(out, p)
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("%s: no file matches", a)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		ents, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, e := range ents {
			p := filepath.Join(a, e.Name())
			if strings.HasPrefix(e.Name(), ".") || !slices.Contains(imageExts, strings.ToLower(filepath.Ext(e.Name()))) {
				continue
			}
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				out = append(out, p)
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no image files (%s)", a, strings.Join(imageExts, " "))
		}
	}
	return out, nil
}

// outcome is what became of one file.
type outcome int

const (
	accepted outcome = iota // acked
	rejected                // answered with an error
	unacked                 // sent, no receipt (connection lost, timeout)
	unsent                  // never sent (unreadable, connection gone, interrupted)
)

type fileResult struct {
	path    string
	bytes   int
	outcome outcome
	ack     client.Ack
	err     error
}

// uploader sends the files one at a time and keeps the results.
type uploader struct {
	c       *client.Client
	o       *sendOptions
	files   []string
	out     io.Writer                // per-file lines and the summary
	bar     *progressbar.ProgressBar // nil: plain lines (or none)
	lines   bool
	results []fileResult
	start   time.Time
	sent    int64 // bytes of accepted files
	// gap paces sends after the relay answered rate_limited: it doubles on
	// each such answer and shrinks by a tenth on each accepted file.
	gap      time.Duration
	lastSend time.Time
}

const maxTries = 3 // sends of one file with --retry

func newUploader(c *client.Client, o *sendOptions, files []string, stdout, stderr io.Writer) *uploader {
	u := &uploader{c: c, o: o, files: files, out: stdout, start: time.Now()}
	mode := o.progress
	if mode == "auto" {
		mode = "lines"
		if isTerminal(stderr) {
			mode = "bar"
		}
	}
	u.lines = mode == "lines"
	if mode == "bar" {
		total := int64(-1)
		if o.loop > 0 {
			total = 0
			for _, f := range files {
				if st, err := os.Stat(f); err == nil {
					total += st.Size()
				}
			}
			total *= int64(o.loop)
		}
		u.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(24),
			progressbar.OptionThrottle(80*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionSetDescription(u.describe()),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
		)
	}
	return u
}

func (u *uploader) total() string {
	if u.o.loop == 0 {
		return "∞"
	}
	return fmt.Sprint(len(u.files) * int(u.o.loop))
}

func (u *uploader) describe() string {
	bad := 0
	for _, r := range u.results {
		if r.outcome != accepted {
			bad++
		}
	}
	d := fmt.Sprintf("files %d/%s", len(u.results), u.total())
	if bad > 0 {
		d += fmt.Sprintf(", %d failed", bad)
	}
	return d
}

// run sends every file (every pass) until done, interrupted, or the client
// has stopped for good.
func (u *uploader) run(ctx context.Context) {
	var gap time.Duration
	if u.o.fps > 0 {
		gap = time.Duration(float64(time.Second) / u.o.fps)
	}
	next := time.Now()
	for pass := 1; u.o.loop == 0 || pass <= int(u.o.loop); pass++ {
		for i, path := range u.files {
			if err := u.stopReason(ctx); err != nil {
				for _, p := range u.files[i:] {
					u.record(fileResult{path: p, outcome: unsent, err: err})
				}
				return
			}
			if gap > 0 {
				if !sleepCtx(ctx, time.Until(next)) {
					for _, p := range u.files[i:] {
						u.record(fileResult{path: p, outcome: unsent, err: errInterrupted})
					}
					return
				}
				if next = next.Add(gap); time.Until(next) < -gap {
					next = time.Now() // fell behind: do not burst to catch up
				}
			}
			u.record(u.sendFile(ctx, path))
		}
	}
}

// stopReason says why no more files can be sent, or nil.
func (u *uploader) stopReason(ctx context.Context) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	select {
	case <-u.c.Done():
		return u.c.Err()
	default:
		return nil
	}
}

var errInterrupted = errors.New("interrupted")

// maxRateLimitedTries bounds how often one file is sent again after the
// relay answered rate_limited.
const maxRateLimitedTries = 12

func isRateLimited(err error) bool {
	var re *client.RejectError
	return errors.As(err, &re) && re.Code == wire.CodeRateLimited
}

// sendFile sends one file and waits for its receipt (trying again after a
// reconnect with --retry).
func (u *uploader) sendFile(ctx context.Context, path string) fileResult {
	r := fileResult{path: path}
	data, err := os.ReadFile(path)
	if err != nil {
		r.outcome, r.err = unsent, err
		return r
	}
	r.bytes = len(data)
	if err := checkLocally(data); err != nil {
		r.outcome, r.err = rejected, err
		return r
	}
	limited := 0 // rate_limited answers for this file so far
	for try := 1; ; try++ {
		if wait := time.Until(u.lastSend.Add(u.gap)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		u.lastSend = time.Now()
		sctx, cancel := context.WithTimeout(ctx, u.o.timeout)
		p, err := u.c.SendAsync(sctx, data)
		if err == nil {
			r.ack, err = p.Wait(sctx)
		}
		timedOut := sctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			r.outcome, r.err = accepted, nil
			if u.gap = u.gap * 9 / 10; u.gap < time.Millisecond {
				u.gap = 0
			}
			return r
		case isRateLimited(err) && limited < maxRateLimitedTries && ctx.Err() == nil:
			// The relay's per-connection rate limit: the file is fine, so
			// slow down and send it again, rather than call it rejected.
			limited++
			try--
			u.gap = min(max(2*u.gap, 50*time.Millisecond), 3*time.Second)
			continue
		case errors.Is(err, client.ErrRejected):
			r.outcome, r.err = rejected, err
			return r
		}
		r.outcome, r.err = unsent, err
		if p != nil {
			r.outcome = unacked
		}
		switch {
		case ctx.Err() != nil:
			r.err = errInterrupted
			return r
		case timedOut && p != nil:
			r.err = fmt.Errorf("no receipt within %v", u.o.timeout)
		case timedOut:
			r.err = fmt.Errorf("no connection within %v", u.o.timeout)
		}
		if !u.o.retry || try >= maxTries {
			return r
		}
		wctx, cancel := context.WithTimeout(ctx, u.o.retryFor)
		werr := u.c.WaitConnected(wctx)
		cancel()
		if werr != nil {
			r.err = fmt.Errorf("%w (no reconnect within --retry-for %v: %v)", r.err, u.o.retryFor, werr)
			return r
		}
		u.note("retry", path, fmt.Sprintf("try %d after: %v", try+1, r.err))
	}
}

// checkLocally runs the relay's header and structural checks
// (imageproc.Inspect, imageproc.CheckStructure) on an image before it is
// sent, and refuses a truncated, corrupt or padded one with a local
// invalid_image. Limits and formats are the server's business: only
// invalid_image is decided here.
func checkLocally(data []byte) error {
	info, err := imageproc.Inspect(data, imageproc.Limits{MaxBytes: len(data) + 1, MaxPixels: 1 << 62})
	if err == nil {
		err = imageproc.CheckStructure(data, info)
	}
	if imageproc.Code(err) != imageproc.CodeInvalidImage {
		return nil
	}
	return &client.RejectError{Code: imageproc.CodeInvalidImage, Message: strings.TrimPrefix(err.Error(), "invalid_image: "), Local: true}
}

func (u *uploader) note(word, path, detail string) {
	if u.lines {
		fmt.Fprintf(u.out, "%-9s %s  %s\n", word, path, detail)
	}
}

func (u *uploader) record(r fileResult) {
	u.results = append(u.results, r)
	switch r.outcome {
	case accepted:
		u.sent += int64(r.bytes)
		u.note("accepted", r.path, fmt.Sprintf("%s %dx%d %s seq %d", r.ack.Format, r.ack.Width, r.ack.Height, humanBytes(int64(r.bytes)), r.ack.Seq))
	case rejected:
		u.note("rejected", r.path, reason(r))
	default:
		u.note("no-ack", r.path, reason(r))
	}
	if u.bar != nil {
		u.bar.Describe(u.describe())
		_ = u.bar.Add64(int64(r.bytes))
	}
}

// reason says why a file was not accepted, for people.
func reason(r fileResult) string {
	var rej *client.RejectError
	switch {
	case errors.As(r.err, &rej):
		msg := strings.TrimPrefix(rej.Message, rej.Code+": ")
		if rej.Local {
			return fmt.Sprintf("%s: %s (not sent)", rej.Code, msg)
		}
		return fmt.Sprintf("%s: %s", rej.Code, msg)
	case r.outcome == unacked:
		return fmt.Sprintf("sent, no receipt: %v", r.err)
	default:
		return fmt.Sprintf("not sent: %v", r.err)
	}
}

// finish prints the summary and returns the command's result.
func (u *uploader) finish() error {
	if u.bar != nil {
		_ = u.bar.Finish()
	}
	var acc, rej, lost int
	for _, r := range u.results {
		switch r.outcome {
		case accepted:
			acc++
		case rejected:
			rej++
		default:
			// Interrupting an endless --loop is how it ends, not a failure.
			if u.o.loop == 0 && errors.Is(r.err, errInterrupted) {
				continue
			}
			lost++
		}
	}
	el := time.Since(u.start).Round(time.Millisecond)
	fmt.Fprintf(u.out, "sent %d files: %d accepted, %d rejected, %d not acknowledged (%s accepted in %v)\n",
		acc+rej+lost, acc, rej, lost, humanBytes(u.sent), el)
	u.list("rejected:", func(r fileResult) bool { return r.outcome == rejected })
	u.list("not acknowledged:", func(r fileResult) bool {
		return r.outcome != accepted && r.outcome != rejected && !(u.o.loop == 0 && errors.Is(r.err, errInterrupted))
	})
	if rej+lost == 0 {
		return nil
	}
	return &exitError{code: 1, err: fmt.Errorf("send: %d rejected, %d not acknowledged", rej, lost)}
}

func (u *uploader) list(title string, keep func(fileResult) bool) {
	first := true
	for _, r := range u.results {
		if !keep(r) {
			continue
		}
		if first {
			fmt.Fprintln(u.out, title)
			first = false
		}
		fmt.Fprintf(u.out, "  %s: %s\n", r.path, reason(r))
	}
}
