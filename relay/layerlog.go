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
// starts a new log. The log is bounded by its own full frame: once its
// patches reach logBound bytes the sender is asked for a full frame
// (keyframe), and from twice that its patches are refused
// (keyframe_needed), so it never holds more than its full frame, twice
// logBound of patches, and one last patch.

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

// LogState is a layer log's size after a patch went in.
type LogState struct {
	BaseBytes  int   // image bytes of the log's full frame
	PatchBytes int64 // image bytes of its patches, this one included
}

// LayerLog is implemented by brokers that keep the layer log of each
// sender. Only such a broker takes patches: the relay refuses them
// (patches_unsupported) on any other, since late joiners could not rebuild
// the picture.
type LayerLog interface {
	// PublishPatch appends env (a KindFrame with Patch set) to the log of
	// env.Client in env.Room and publishes it, as one step. It fails, and
	// publishes nothing, with ErrNoFullFrame when the sender has no full
	// frame in the room, ErrPatchOutOfBounds when env.Patch does not fit
	// inside that full frame's Width and Height, and ErrKeyframeNeeded
	// when the log's patches already hold twice logBound.
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

// layerLog is one sender's log in the memory broker. Guarded by the
// broker's lock.
type layerLog struct {
	// entries[0] is the full frame, then the patches in order. Entries
	// are only appended; a full frame starts a new slice, so that the
	// prefix a published patch keeps (logPrev) never changes.
	entries    []*Envelope
	patchBytes int64 // image bytes of entries[1:]
	bytes      int64 // size() of all entries
}

func newLayerLog(full *Envelope) layerLog {
	return layerLog{entries: []*Envelope{full}, bytes: int64(full.size())}
}

func (l *layerLog) base() *Envelope { return l.entries[0] }
func (l *layerLog) last() *Envelope { return l.entries[len(l.entries)-1] }

// appendPatch checks env against the log and appends it.
func (l *layerLog) appendPatch(env *Envelope) (LogState, error) {
	base := l.base()
	p := env.Patch
	if base.Width <= 0 || base.Height <= 0 {
		return LogState{}, ErrNoFullFrame // its size is unknown: nothing to check a patch against
	}
	if p.X < 0 || p.Y < 0 || p.Width <= 0 || p.Height <= 0 ||
		int64(p.X)+int64(p.Width) > int64(base.Width) || int64(p.Y)+int64(p.Height) > int64(base.Height) {
		return LogState{}, fmt.Errorf("%w: a %dx%d patch at (%d, %d) does not fit inside your %dx%d full frame",
			ErrPatchOutOfBounds, p.Width, p.Height, p.X, p.Y, base.Width, base.Height)
	}
	if l.patchBytes >= 2*logBound(len(base.Image)) {
		return LogState{}, ErrKeyframeNeeded
	}
	n := len(l.entries)
	env.logBase, env.logIdx, env.logPrev = base, n, l.entries[:n:n]
	l.entries = append(l.entries, env)
	l.patchBytes += int64(len(env.Image))
	l.bytes += int64(env.size())
	return LogState{BaseBytes: len(base.Image), PatchBytes: l.patchBytes}, nil
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
	st, err := l.log.appendPatch(env)
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
