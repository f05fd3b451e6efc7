package cli

// send --watch: mirror one file into a room.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/client"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// retryDelay is how soon a mirror tries again after a send got no receipt.
const retryDelay = time.Second

// brokenGrace is how long content that fails the local check must stay the
// same before the mirror calls it broken rather than still being written
// (at least 3 debounces).
const brokenGrace = time.Second

// mirror sends a file each time its content changes.
type mirror struct {
	c    *client.Client
	o    *sendOptions
	path string
	out  io.Writer

	last     [sha256.Size]byte // hash of the last content sent (or rejected)
	haveLast bool
	broken   [sha256.Size]byte // content that failed the local check: maybe still being written
	haveBrk  bool
	brkSince time.Time // when broken was first seen
	lastSend time.Time
	hellos   int
	pt       patcher // with --patches (send_patch.go)

	sent, patched, unchanged, rejected int
}

func runMirror(ctx context.Context, url, path string, o *sendOptions, stdout, stderr io.Writer) error {
	if o.loop != 1 {
		return usageError(errors.New("send --watch: --loop does not apply"))
	}
	if o.interval < 0 || o.debounce < 0 {
		return usageError(errors.New("send --watch: --interval and --debounce must be ≥ 0"))
	}
	path = filepath.Clean(path)
	cfg := o.config(url, stderr)
	cfg.Reconnect = true
	cfg.Window = 1
	cfg.FrameBuffer, cfg.FrameBufferBytes = 1, 1
	c, err := dialClient(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	m := &mirror{c: c, o: o, path: path, out: stdout}
	fmt.Fprintf(stderr, "mirroring %s to room %s as client %s\n", path, c.Room(), c.ClientID())

	var changes <-chan fsnotify.Event
	var watchErrs <-chan error
	var tick <-chan time.Time
	if o.interval > 0 {
		t := time.NewTicker(o.interval)
		defer t.Stop()
		tick = t.C
	} else {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			return fmt.Errorf("send --watch: %w (try --interval)", err)
		}
		defer w.Close()
		// Watch the directory: editors and screenshot tools often replace the
		// file (write a new one, rename it over), which ends a watch on the file.
		if err := w.Add(filepath.Dir(path)); err != nil {
			return usageError(fmt.Errorf("send --watch: %w", err))
		}
		changes, watchErrs = w.Events, w.Errors
	}
	err = m.loop(ctx, changes, watchErrs, tick, stderr)
	fmt.Fprintf(stdout, "mirror: %d sent, %d as patches, %d unchanged skipped, %d rejected\n", m.sent, m.patched, m.unchanged, m.rejected)
	return err
}

func (m *mirror) loop(ctx context.Context, changes <-chan fsnotify.Event, watchErrs <-chan error, tick <-chan time.Time, stderr io.Writer) error {
	timer := time.NewTimer(0) // first run: send what is there now
	defer timer.Stop()
	var lastStat os.FileInfo
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.c.Done():
			return &exitError{code: 2, err: fmt.Errorf("send --watch: %w", m.c.Err())}
		case ev := <-m.c.Events():
			if _, ok := ev.(*client.Hello); ok {
				if m.hellos++; m.hellos > 1 {
					// A new server may have lost the room: send the file again.
					fmt.Fprintln(stderr, "reconnected; sending the current content again")
					m.haveLast, m.pt.needFull = false, true
					timer.Reset(0)
				}
			}
			if u, ok := ev.(*client.Unknown); ok && u.Type == wire.TypeKeyframe {
				// The relay's log of our patches is long: send a full frame.
				m.haveLast, m.pt.needFull = false, true
				timer.Reset(0)
			}
		case ev := <-changes:
			if filepath.Clean(ev.Name) == m.path && ev.Op&(fsnotify.Write|fsnotify.Create) != 0 {
				timer.Reset(m.o.debounce)
			}
		case err := <-watchErrs:
			fmt.Fprintf(stderr, "watch %s: %v\n", m.path, err)
		case <-tick:
			st, err := os.Stat(m.path)
			if err == nil && (lastStat == nil || st.Size() != lastStat.Size() || !st.ModTime().Equal(lastStat.ModTime())) {
				lastStat = st
				timer.Reset(m.o.debounce)
			}
		case <-timer.C:
			if again := m.try(ctx); again > 0 {
				timer.Reset(again)
			}
		}
	}
}

// try sends the file if its content is new. It returns 0 when done with this
// content, or how soon to try again.
func (m *mirror) try(ctx context.Context) time.Duration {
	data, err := os.ReadFile(m.path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.line("unreadable", err.Error())
		}
		return 0
	}
	if len(data) == 0 {
		return 0 // being written: its next change will come
	}
	h := sha256.Sum256(data)
	if m.haveLast && h == m.last {
		m.unchanged++
		return 0
	}
	if err := checkLocally(data); err != nil {
		if !m.haveBrk || h != m.broken {
			m.broken, m.haveBrk, m.brkSince = h, true, time.Now()
		}
		// Maybe still being written: look again after the debounce, until
		// the same broken content has stayed for brokenGrace.
		if time.Since(m.brkSince) < max(3*m.o.debounce, brokenGrace) {
			return max(m.o.debounce, 20*time.Millisecond)
		}
		m.last, m.haveLast, m.haveBrk = h, true, false
		m.rejected++
		m.line("rejected", reason(fileResult{err: err, outcome: rejected}))
		return 0
	}
	m.haveBrk = false
	if m.o.fps > 0 {
		gap := time.Duration(float64(time.Second) / m.o.fps)
		if wait := time.Until(m.lastSend.Add(gap)); wait > 0 {
			return wait
		}
	}
	m.lastSend = time.Now()
	var pic *image.NRGBA
	if m.o.patches && !m.pt.off {
		pic = decodeForPatches(data, m.c.Hello().MaxPixels)
		if again, done := m.tryPatch(ctx, h, pic); done {
			return again
		}
	}
	sctx, cancel := context.WithTimeout(ctx, m.o.timeout)
	ack, err := m.c.Send(sctx, data)
	cancel()
	switch {
	case err == nil:
		m.last, m.haveLast = h, true
		m.pt.sentFull(pic)
		m.sent++
		m.line("sent", fmt.Sprintf("%s %dx%d %s seq %d", ack.Format, ack.Width, ack.Height, humanBytes(int64(len(data))), ack.Seq))
		return 0
	case errors.Is(err, client.ErrRejected):
		m.last, m.haveLast = h, true // the same content would be rejected again
		m.rejected++
		m.line("rejected", reason(fileResult{err: err, outcome: rejected}))
		return 0
	case ctx.Err() != nil:
		return 0
	}
	m.line("no-ack", fmt.Sprintf("%v (trying again)", err))
	return retryDelay
}

// tryPatch sends the changed rectangle of pic as a patch when that is
// worth it. done reports that the content is dealt with (again as try
// returns); otherwise the caller sends it as a full frame.
func (m *mirror) tryPatch(ctx context.Context, h [sha256.Size]byte, pic *image.NRGBA) (again time.Duration, done bool) {
	x, y, patch, same, ok := m.pt.plan(pic)
	if same {
		m.last, m.haveLast = h, true
		m.unchanged++
		return 0, true
	}
	if !ok {
		return 0, false
	}
	sctx, cancel := context.WithTimeout(ctx, m.o.timeout)
	ack, err := m.c.SendPatch(sctx, x, y, patch)
	cancel()
	var rej *client.RejectError
	switch {
	case err == nil:
		m.last, m.haveLast = h, true
		m.pt.last = pic
		m.sent++
		m.patched++
		m.line("patched", fmt.Sprintf("%dx%d at (%d, %d) %s seq %d", ack.Width, ack.Height, x, y, humanBytes(int64(len(patch))), ack.Seq))
		return 0, true
	case errors.As(err, &rej) && rej.Code == relay.CodePatchesUnsupported:
		m.pt.off = true // this relay takes full frames only
		return 0, false
	case errors.As(err, &rej):
		m.pt.needFull = true // keyframe_needed, or the relay lost our full frame
		return 0, false
	case ctx.Err() != nil:
		return 0, true
	}
	m.line("no-ack", fmt.Sprintf("%v (trying again)", err))
	return retryDelay, true
}

func (m *mirror) line(word, detail string) {
	fmt.Fprintf(m.out, "%-9s %s  %s\n", word, m.path, detail)
}
