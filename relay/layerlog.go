package relay

import (
	"context"
	"fmt"
	"slices"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// The layer log. Per sender (client id) a room keeps the newest full frame
// and the patches accepted since, in order: a late joiner gets the whole
// log, and anyone can rebuild the sender's picture from it. A full frame
// starts a new log. The log is bounded by its own full frame and by a
// count: once its patches reach logBound bytes, or wire.KeyframePatches
// patches, the sender is asked for a full frame (keyframe), and from twice
// logBound bytes, or wire.MaxLogPatches patches, its patches are refused
// (keyframe_needed). So it never holds more than its full frame, twice
// logBound of patches and one last patch, and never more than
// wire.MaxLogPatches patches. Both brokers check a patch with CheckPatch
// and link it with Log.

// minLogBound is the least bound of a log's patches: a small full frame
// still allows 64 KiB of patches before a keyframe is asked for.
const minLogBound = wire.KeyframeMinBytes

// logBound is the patch bytes at which a log whose full frame has
// baseBytes image bytes asks for a keyframe; patches are refused from
// twice it.
func logBound(baseBytes int) int64 { return max(int64(baseBytes), minLogBound) }

// PatchRect is where a patch goes on its sender's layer: the image's own
// width and height at (X, Y).
type PatchRect struct {
	X, Y, Width, Height int
}

// LogState is a layer log's size: after a patch went in, when a broker
// returns it.
type LogState struct {
	BaseBytes  int   // image bytes of the log's full frame
	PatchBytes int64 // image bytes of its patches, this one included
	Patches    int   // its patches, this one included
}

// keyframeDue reports whether a log of this size asks its sender for a
// full frame.
func (st LogState) keyframeDue() bool {
	return st.PatchBytes >= logBound(st.BaseBytes) || st.Patches >= wire.KeyframePatches
}

// CheckPatch checks a patch of imageBytes at p against a log whose full
// frame is width×height (from its header) and whose size is st, and
// returns the log's size with the patch. It fails with ErrNoFullFrame when
// the full frame's size is unknown, ErrPatchOutOfBounds when p does not fit
// inside it, and ErrKeyframeNeeded when the log's patches already hold
// twice logBound bytes or wire.MaxLogPatches patches.
func CheckPatch(width, height int, st LogState, p PatchRect, imageBytes int) (LogState, error) {
	if width <= 0 || height <= 0 {
		return st, ErrNoFullFrame // its size is unknown: nothing to check a patch against
	}
	if p.X < 0 || p.Y < 0 || p.Width <= 0 || p.Height <= 0 ||
		int64(p.X)+int64(p.Width) > int64(width) || int64(p.Y)+int64(p.Height) > int64(height) {
		return st, fmt.Errorf("%w: a %dx%d patch at (%d, %d) does not fit inside your %dx%d full frame",
			ErrPatchOutOfBounds, p.Width, p.Height, p.X, p.Y, width, height)
	}
	if st.PatchBytes >= 2*logBound(st.BaseBytes) || st.Patches >= wire.MaxLogPatches {
		return st, ErrKeyframeNeeded
	}
	st.PatchBytes += int64(imageBytes)
	st.Patches++
	return st, nil
}

// LayerLog is implemented by brokers that keep the layer log of each
// sender. Only such a broker takes patches: the relay refuses them
// (patches_unsupported) on any other, since late joiners could not rebuild
// the picture.
type LayerLog interface {
	// PublishPatch appends env (a KindFrame with Patch set) to the log of
	// env.Client in env.Room and publishes it, as one step. It fails, and
	// publishes nothing, with the errors of CheckPatch, with
	// ErrLogUnavailable when the log cannot be reached (a cluster broker
	// that lost its cluster), or with ErrLogContended when other appends
	// kept winning the race for the log's end.
	PublishPatch(ctx context.Context, env *Envelope) (LogState, error)
}

// logOf returns the base of env's log (env itself for a full frame).
func (e *Envelope) logOf() *Envelope {
	if e.logBase != nil {
		return e.logBase
	}
	return e
}

// withPrefix returns env's log up to env: its full frame, the patches
// before it, and env.
func (e *Envelope) withPrefix() []*Envelope {
	if e.Patch == nil || e.logBase == nil {
		return []*Envelope{e}
	}
	return append(slices.Clip(e.logPrev), e)
}

// Log is one sender's layer log: a full frame and the patches since,
// linked so that the relay can compose and deliver them (each patch knows
// its full frame and the log before it). Brokers own it and guard it with
// their own lock; the envelopes it links must not have been delivered yet.
type Log struct {
	// entries[0] is the full frame, then the patches in order. Entries
	// are only appended; a full frame starts a new Log, so that the
	// prefix a published patch keeps (logPrev) never changes.
	entries []*Envelope
	st      LogState
	bytes   int64 // size() of all entries
}

// NewLog starts a log with full, a full frame.
func NewLog(full *Envelope) *Log {
	return &Log{entries: []*Envelope{full}, st: LogState{BaseBytes: len(full.Image)}, bytes: int64(full.size())}
}

// Base is the log's full frame.
func (l *Log) Base() *Envelope { return l.entries[0] }

// Last is the newest entry.
func (l *Log) Last() *Envelope { return l.entries[len(l.entries)-1] }

// Len is the number of entries: the full frame and its patches.
func (l *Log) Len() int { return len(l.entries) }

// Entries is the log in order; the caller must not change it.
func (l *Log) Entries() []*Envelope { return l.entries }

// Bytes is what the log's envelopes hold and put on the wire.
func (l *Log) Bytes() int64 { return l.bytes }

// State is the log's size.
func (l *Log) State() LogState { return l.st }

// Append checks env, a patch, against the log (CheckPatch, with the full
// frame's Width and Height), links it into the log, and appends it.
func (l *Log) Append(env *Envelope) (LogState, error) {
	base := l.Base()
	st, err := CheckPatch(base.Width, base.Height, l.st, *env.Patch, len(env.Image))
	if err != nil {
		return LogState{}, err
	}
	n := len(l.entries)
	env.logBase, env.logIdx, env.logPrev = base, n, l.entries[:n:n]
	l.entries = append(l.entries, env)
	l.st = st
	l.bytes += int64(env.size())
	return st, nil
}

// flattenLogs returns logs as one list, each log whole and in order, the
// logs ordered by their newest entry (least recently updated first).
func flattenLogs(logs [][]*Envelope) []*Envelope {
	slices.SortStableFunc(logs, func(a, b []*Envelope) int {
		ta, tb := a[len(a)-1].TS, b[len(b)-1].TS
		switch {
		case ta < tb:
			return -1
		case ta > tb:
			return 1
		}
		return 0
	})
	var n int
	for _, l := range logs {
		n += len(l)
	}
	out := make([]*Envelope, 0, n)
	for _, l := range logs {
		out = append(out, l...)
	}
	return out
}

// splitLogs cuts a flattened list (Broker.Layers) back into logs: a log
// starts at each full frame.
func splitLogs(envs []*Envelope) [][]*Envelope {
	var out [][]*Envelope
	for i, env := range envs {
		if env.Patch == nil || i == 0 {
			out = append(out, []*Envelope{env})
			continue
		}
		out[len(out)-1] = append(out[len(out)-1], env)
	}
	return out
}

// PublishPatch implements LayerLog: the patch is checked and appended
// under its room's lock, as a full frame is retained.
func (b *MemoryBroker) PublishPatch(_ context.Context, env *Envelope) (LogState, error) {
	if b.closed.Load() {
		return LogState{}, ErrBrokerClosed
	}
	r := b.lockRoom(env.Room, false)
	if r == nil {
		return LogState{}, ErrNoFullFrame
	}
	l := r.layers[env.Client]
	if l == nil {
		r.mu.Unlock()
		return LogState{}, ErrNoFullFrame
	}
	st, err := l.log.Append(env)
	if err != nil {
		r.mu.Unlock()
		return LogState{}, err
	}
	over := b.resizedLocked(r, l, false)
	b.maybeDropLocked(r)
	subs := *r.loadSubs()
	r.mu.Unlock()
	if over {
		b.evictOverBudget()
	}
	for _, s := range subs {
		s.deliver(env)
	}
	return st, nil
}
