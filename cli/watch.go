package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const watchHelp = `Records a room. Pick one or more modes:
  --out DIR      save every frame as DIR/<client>-<seq>.<ext> (never
                 overwriting a file: a taken name gets .2, .3, … before .<ext>);
                 a patch (a sender's changed rectangle) is saved as the whole
                 picture it makes, or with --raw-patches as it came, named
                 <client>-<seq>-patch-<x>-<y>.<ext>
  --latest FILE  keep FILE as the newest frame (any client)
  --events       print chat and presence events as JSON lines on stdout

Every file is written atomically (a temporary file in the same directory,
then a rename), so a reader never sees half an image. A new member first
gets the room's current layers, so --out and --latest start with those.
watch reconnects by itself and runs until interrupted (or --count frames).
If it cannot keep up, the oldest waiting frames are dropped and counted.
URL is the room's page (http(s)://host/r/ROOM) or its socket (ws(s)://host/ws/ROOM).

Exit status: 0 after an interrupt or --count frames; 2 usage or connection error.`

const watchExamples = `  canvasrelay watch http://localhost:8080/r/demo --out recording/
  canvasrelay watch --latest /var/www/live.png https://relay.example.com/r/team
  canvasrelay watch --events ws://localhost:8080/ws/demo | jq -r 'select(.type=="chat") | .text'`

// watchOptions are the watch flags.
type watchOptions struct {
	connOptions
	out    string
	latest string
	events bool
	count  int
	// rawPatches: --out saves a patch as it came, not the whole picture.
	rawPatches bool
}

func newWatchCmd(stdout, stderr io.Writer) *cobra.Command {
	var o watchOptions
	cmd := &cobra.Command{
		Use:     "watch URL [flags]",
		Short:   "Record a room's frames and events",
		Long:    watchHelp,
		Example: watchExamples,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWatch(cmd.Context(), &o, args, stdout, stderr)
		},
	}
	watchFlags(&o, cmd.Flags())
	return cmd
}

func watchFlags(o *watchOptions, fs *pflag.FlagSet) {
	o.connOptions.register(fs, "connect timeout")
	fs.StringVar(&o.out, "out", "", "save every frame in `DIR` as <client>-<seq>.<ext>, never overwriting a file (created if missing)")
	fs.StringVar(&o.latest, "latest", "", "keep `FILE` as the newest frame")
	fs.BoolVar(&o.events, "events", false, "print chat and presence events as JSON lines on stdout")
	fs.IntVar(&o.count, "count", 0, "stop after `N` frames (0: run until interrupted)")
	fs.BoolVar(&o.rawPatches, "raw-patches", false, "with --out, save a patch itself as <client>-<seq>-patch-<x>-<y>.<ext> instead of the whole picture it makes")
}

func runWatch(ctx context.Context, o *watchOptions, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return usageError(errors.New("watch: want exactly one URL"))
	}
	url := args[0]
	if err := checkURL(url); err != nil {
		return err
	}
	switch {
	case o.out == "" && o.latest == "" && !o.events:
		return usageError(errors.New("watch: choose --out DIR, --latest FILE and/or --events"))
	case o.count < 0:
		return usageError(errors.New("watch: --count must be ≥ 0"))
	case o.timeout <= 0:
		return usageError(errors.New("watch: --timeout must be > 0"))
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return usageError(fmt.Errorf("watch: %w", err))
		}
	}
	if o.latest != "" {
		if st, err := os.Stat(filepath.Dir(o.latest)); err != nil || !st.IsDir() {
			return usageError(fmt.Errorf("watch: --latest %s: its directory must exist", o.latest))
		}
	}
	cfg := o.config(url, stderr)
	cfg.Reconnect = true
	if o.out == "" {
		// --latest only needs the newest frame; --events none.
		cfg.FrameBuffer = 1
		if o.latest == "" {
			cfg.FrameBufferBytes = 1
		}
	} else {
		cfg.FrameBuffer = 256
		cfg.FrameBufferBytes = 256 << 20
	}
	c, err := dialClient(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	r := &recorder{o: o, stdout: stdout, stderr: stderr}
	err = r.loop(ctx, c)
	c.Close()
	st := c.Stats()
	fmt.Fprintf(stderr, "watch: %d frames saved, %d dropped (too slow), %d connections\n", r.frames, st.DroppedFrames, st.Connects)
	return err
}

// recorder writes what a watch receives.
type recorder struct {
	o      *watchOptions
	stdout io.Writer
	stderr io.Writer
	frames int
	hellos int
	saved  map[string]savedFrame // the last frame saved per client id, at most maxSaved
}

// savedFrame tells a frame sent again (a layer after a reconnect) from a
// new one.
type savedFrame struct{ seq, ts int64 }

const (
	maxSaved    = 4096 // client ids remembered by --out
	maxSuffixes = 1000 // names tried for one frame
)

func (r *recorder) loop(ctx context.Context, c *client.Client) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return &exitError{code: 2, err: fmt.Errorf("watch: %w", c.Err())}
		case ev, ok := <-c.Events():
			if !ok {
				return &exitError{code: 2, err: fmt.Errorf("watch: %w", c.Err())}
			}
			if err := r.event(ev); err != nil {
				return err
			}
		case f, ok := <-c.Frames():
			if !ok {
				return &exitError{code: 2, err: fmt.Errorf("watch: %w", c.Err())}
			}
			if err := r.frame(f); err != nil {
				return err
			}
			if r.o.count > 0 && r.frames >= r.o.count {
				return nil
			}
		}
	}
}

func (r *recorder) event(ev client.Event) error {
	switch ev := ev.(type) {
	case *client.Hello:
		r.hellos++
		word := "connected to"
		if r.hellos > 1 {
			word = "reconnected to"
		}
		fmt.Fprintf(r.stderr, "%s room %s as client %s (%d members)\n", word, relay.CleanText(ev.Room, false), relay.CleanText(ev.Client, false), ev.Count)
		return nil
	case *client.Chat, *client.Presence:
		if !r.o.events {
			return nil
		}
		line, err := safeJSONLine(ev.RawJSON())
		if err != nil {
			return nil // the client parsed it, so this cannot happen
		}
		if _, err := r.stdout.Write(line); err != nil {
			return fmt.Errorf("watch: stdout: %w", err)
		}
	case *client.ErrorEvent:
		fmt.Fprintf(r.stderr, "server error: %s: %s\n", relay.CleanText(ev.Code, false), relay.CleanText(ev.Message, false))
	}
	return nil
}

func (r *recorder) frame(f client.Frame) error {
	format := f.Info.Format
	if format == "" {
		if sniffed, ok := imageproc.Sniff(f.Data); ok {
			format = string(sniffed)
		}
	}
	if r.o.out != "" {
		save := f
		if r.o.rawPatches && f.Patch != nil {
			save = client.Frame{Info: f.Patch.Info, Data: f.Patch.Data, Received: f.Received}
			format = f.Patch.Info.Format
		}
		if err := r.saveNew(save, format); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
	}
	if r.o.latest != "" {
		if err := writeFileAtomic(r.o.latest, f.Data, 0o644); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
	}
	r.frames++
	return nil
}

// safeJSONLine re-encodes an event as one compact JSON line, its keys in
// the server's order, with every string cleaned of control characters and
// bidi overrides (relay.CleanText; newline and tab kept, as JSON escapes).
// The relay cleans chat and names already; this keeps `watch --events |
// jq -r .text` safe in a terminal even with a relay that does not.
func safeJSONLine(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	type level struct {
		object bool
		n      int // tokens written at this level
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			out.WriteByte(byte(d))
			stack = stack[:len(stack)-1]
			continue
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.object && top.n%2 == 1 {
				out.WriteByte(':')
			} else if top.n > 0 {
				out.WriteByte(',')
			}
			top.n++
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(v))
			stack = append(stack, level{object: v == '{'})
		case string:
			if err := enc.Encode(relay.CleanText(v, true)); err != nil {
				return nil, err
			}
			out.Truncate(out.Len() - 1) // Encode's newline
		case json.Number:
			out.WriteString(v.String())
		case bool:
			out.WriteString(strconv.FormatBool(v))
		case nil:
			out.WriteString("null")
		}
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// saveNew writes a frame into --out as <client>-<seq>.<ext>, or, when that
// name is taken (earlier in this run, or before it), as
// <client>-<seq>.<n>.<ext> with the first free n from 2: a file is never
// overwritten. It is written under a temporary name first, then linked to
// its final name, which fails if the name exists, so a reader never sees
// half an image either. A frame already saved (the same client, seq and ts)
// is skipped.
func (r *recorder) saveNew(f client.Frame, format string) error {
	key := savedFrame{f.Info.Seq, f.Info.TS}
	if k, ok := r.saved[f.Info.Client]; ok && k == key {
		return nil
	}
	stem := fmt.Sprintf("%s-%d", safeName(f.Info.Client), f.Info.Seq)
	if f.Info.Patch {
		stem += fmt.Sprintf("-patch-%d-%d", f.Info.X, f.Info.Y)
	}
	ext := fileExt(format)
	tmp, err := os.CreateTemp(r.o.out, "."+stem+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(f.Data)
	if err == nil {
		err = tmp.Sync()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	for n := 1; n <= maxSuffixes; n++ {
		name := stem + "." + ext
		if n > 1 {
			name = fmt.Sprintf("%s.%d.%s", stem, n, ext)
		}
		err := linkNew(tmp.Name(), filepath.Join(r.o.out, name))
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if r.saved == nil || len(r.saved) >= maxSaved {
			r.saved = make(map[string]savedFrame)
		}
		r.saved[f.Info.Client] = key
		return nil
	}
	return fmt.Errorf("%s: %s.%s and %d more names are taken", r.o.out, stem, ext, maxSuffixes-1)
}

// linkNew gives the file tmp the name final, failing with fs.ErrExist if
// final exists. Where hard links are not supported, it reserves final with
// an exclusive create and renames tmp over that empty file.
func linkNew(tmp, final string) error {
	err := os.Link(tmp, final)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	f, err := os.OpenFile(final, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_ = f.Close()
	return os.Rename(tmp, final)
}
