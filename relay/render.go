package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Renditions: a subscriber may ask for frames re-encoded to its needs with
// the query parameters max_width, max_height, format (auto, png, jpeg or
// original) and quality (1–100) on /ws/{room}. Each distinct rendition of a
// frame is computed once, lazily (only while a member wants it), on the
// server's worker pool, and shared by every member that asked for it. Work
// is latest-wins per (source client, rendition): a newer frame replaces one
// whose re-encode has not started. A member never waits on work for
// another rendition: original subscribers get the frame at once.

// rendition is what one subscriber asked for. nil means the original.
type rendition struct {
	key string // canonical, e.g. "640x0:jpeg:q80"
	opt imageproc.Options
}

// maxRenditionSide bounds max_width and max_height.
const maxRenditionSide = 16384

// parseRendition reads the rendition query parameters. It returns nil when
// none is given (the original frames).
func parseRendition(q url.Values) (*rendition, error) {
	if !q.Has(wire.QueryMaxWidth) && !q.Has(wire.QueryMaxHeight) && !q.Has(wire.QueryFormat) && !q.Has(wire.QueryQuality) {
		return nil, nil
	}
	side := func(name string) (int, error) {
		v := q.Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRenditionSide {
			return 0, fmt.Errorf("%s must be a whole number from 1 to %d", name, maxRenditionSide)
		}
		return n, nil
	}
	var o imageproc.Options
	var err error
	if o.MaxWidth, err = side(wire.QueryMaxWidth); err != nil {
		return nil, err
	}
	if o.MaxHeight, err = side(wire.QueryMaxHeight); err != nil {
		return nil, err
	}
	o.Format = imageproc.OutputOriginal
	if v := q.Get(wire.QueryFormat); v != "" {
		if o.Format, err = imageproc.ParseOutputFormat(v); err != nil {
			return nil, fmt.Errorf("format must be auto, png, jpeg or original")
		}
	}
	if v := q.Get(wire.QueryQuality); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return nil, fmt.Errorf("quality must be a whole number from 1 to 100")
		}
		o.Quality = n
	}
	if o.Quality == 0 {
		o.Quality = imageproc.DefaultQuality
	}
	if o.MaxWidth == 0 && o.MaxHeight == 0 && o.Format == imageproc.OutputOriginal {
		return nil, nil // the original, said at length
	}
	return &rendition{key: fmt.Sprintf("%dx%d:%s:q%d", o.MaxWidth, o.MaxHeight, o.Format, o.Quality), opt: o}, nil
}

// rendEntry is one computed rendition of an envelope.
type rendEntry struct {
	once sync.Once
	env  *Envelope
	err  error
}

// maxRendsPerEnvelope bounds the renditions cached on one envelope.
const maxRendsPerEnvelope = 8

// renditionOf returns env rendered as rd, computing it at most once per
// (envelope, rendition) however many members ask. It runs on a pool worker.
func (s *Server) renditionOf(env *Envelope, info imageproc.Info, rd *rendition) (*Envelope, error) {
	ent, hit := env.cachedRendition(rd.key)
	if hit {
		s.metrics.rendHits.Inc()
	}
	ent.once.Do(func() {
		s.metrics.rendMisses.Inc()
		ent.env, ent.err = s.render(env, info, rd)
	})
	return ent.env, ent.err
}

// render re-encodes env's image (described by info) as rd asks. A frame
// that already meets the target is env itself, or, when its bytes carry
// metadata or anything after their end marker, a frame of the stripped bytes.
func (s *Server) render(env *Envelope, info imageproc.Info, rd *rendition) (*Envelope, error) {
	ctx, done := s.imageJob("rendition")
	res, err := imageproc.ReencodeContext(ctx, env.Image, info, rd.opt)
	done(err)
	if err != nil {
		return nil, err
	}
	if res.Passthrough && len(res.Bytes) == len(env.Image) {
		return env, nil // the very bytes: nothing to strip
	}
	if !res.Passthrough {
		s.metrics.reencodes.WithLabelValues("rendition").Inc()
	}
	// A pass-through stripped of metadata or trailing bytes is a new image.
	return s.reframe(env, res)
}

// imageJob starts the CPU budget (ImageTimeout) of one image job of kind
// (rendition, ingest). It must run on the pool worker that runs the job: the
// budget counts that worker's OS thread's CPU time (imageproc.WithCPUBudget),
// so a loaded machine slows a job without abandoning it. done(err) ends it,
// observes its duration and counts it as abandoned when it ran out of
// budget.
func (s *Server) imageJob(kind string) (context.Context, func(error)) {
	start := time.Now()
	ctx, release := imageproc.WithCPUBudget(s.ctx, s.cfg.ImageTimeout)
	return ctx, func(err error) {
		release()
		d := time.Since(start)
		s.metrics.reencodeSeconds.WithLabelValues(kind).Observe(d.Seconds())
		if errors.Is(err, imageproc.ErrTimeout) {
			s.metrics.imageAbandoned.WithLabelValues(kind).Inc()
			s.log.Warn("image job over its CPU budget", "kind", kind, "took", d, "budget", s.cfg.ImageTimeout)
		}
	}
}

// reframe builds the envelope of a re-encoded image: the same sender, seq
// and time, and a frame event that describes the new image.
func (s *Server) reframe(env *Envelope, res imageproc.Result) (*Envelope, error) {
	var ev FrameEvent
	if err := json.Unmarshal(env.Event, &ev); err != nil {
		return nil, fmt.Errorf("relay: frame event: %w", err)
	}
	ev.Format, ev.Width, ev.Height, ev.Bytes = string(res.Info.Format), res.Info.Width, res.Info.Height, len(res.Bytes)
	ev.Patch, ev.X, ev.Y = false, nil, nil // a composed picture is a full frame
	out := NewFrameEnvelope(mustJSON(ev), res.Bytes)
	out.ID, out.Room, out.Origin, out.Client, out.TS, out.Seq = env.ID, env.Room, env.Origin, env.Client, env.TS, env.Seq
	out.local.ackFor = env.ticket() // before it is queued: the envelope never changes after
	return out, nil
}

// renderFor schedules env's rendition rd for the room's members that want
// it. Latest-wins per (room, source, rendition): a newer frame replaces
// work that has not started.
func (r *room) renderFor(env *Envelope, info imageproc.Info, rd *rendition) {
	s := r.srv
	key := "r\x00" + r.name + "\x00" + env.Client + "\x00" + rd.key
	err := s.pool.Submit(key, imageproc.MemoryCost(info, rd.opt), func() {
		out, err := s.renditionOf(env, info, rd)
		if err != nil {
			s.metrics.reencodeErrors.WithLabelValues("rendition", imageproc.Code(err)).Inc()
			s.log.Debug("rendition failed", "room", r.name, "client", env.Client, "rendition", rd.key, "err", err)
			return
		}
		for _, c := range r.view.Load().members {
			if c.rend != nil && c.rend.key == rd.key && c.id != env.Origin && c.canSubscribe {
				c.deliver(out, nil)
			}
		}
	})
	if err != nil {
		s.metrics.reencodeErrors.WithLabelValues("rendition", submitErrLabel(err)).Inc()
	}
}

// submitErrLabel is the code label of a refused pool submission:
// over_budget when the job alone needs more than the decode memory budget,
// pool_full otherwise.
func submitErrLabel(err error) string {
	if errors.Is(err, imageproc.ErrOverBudget) {
		return "over_budget"
	}
	return "pool_full"
}

// layerFor renders a retained layer for one late joiner. The rendition
// joins the joiner's pending layers (written one at a time, like the
// originals of a joiner without a rendition) while they stay within
// Config.RoomRetainedBytes; beyond that it is queued as a live frame.
func (c *conn) layerFor(env *Envelope) {
	s := c.srv
	info, err := imageproc.Inspect(env.Image, s.limits)
	if err != nil {
		return
	}
	key := "l\x00" + c.id + "\x00" + env.Client
	err = s.pool.Submit(key, imageproc.MemoryCost(info, c.rend.opt), func() {
		out, err := s.renditionOf(env, info, c.rend)
		if err != nil {
			return
		}
		c.addLayers([]*Envelope{out}, s.cfg.RoomRetainedBytes)
	})
	if err != nil {
		s.metrics.reencodeErrors.WithLabelValues("rendition", submitErrLabel(err)).Inc()
	}
}

// errBusy is returned when the worker pool cannot take more work.
var errBusy = errors.New("relay: image workers busy")

// ingest runs the configured ingest checks and work on a frame that passed
// Inspect. The structural check (the default) runs here, on the reader
// goroutine: it is one pass over the bytes and never decodes. Full
// verification and normalising run on the pool, and the reader goroutine
// waits for them, which is the publisher's back-pressure; the pool bounds
// CPU and memory for everyone, and each job's CPU budget (ImageTimeout)
// bounds the wait: a decode over budget fails its next read.
func (c *conn) ingest(data []byte, info imageproc.Info) ([]byte, imageproc.Info, error) {
	s := c.srv
	if s.cfg.Verify != VerifyHeader {
		if err := imageproc.CheckStructure(data, info); err != nil {
			return nil, info, err
		}
	}
	if s.cfg.Verify != VerifyFull && !s.cfg.Normalize {
		return data, info, nil
	}
	type result struct {
		b    []byte
		info imageproc.Info
		err  error
	}
	done := make(chan result, 1)
	cost := imageproc.MemoryCost(info, s.cfg.IngestOptions)
	err := s.pool.Submit("i\x00"+c.id, cost, func() {
		ctx, jobDone := s.imageJob("ingest")
		if s.cfg.Verify == VerifyFull {
			if err := imageproc.VerifyContext(ctx, data, info); err != nil {
				jobDone(err)
				done <- result{err: err}
				return
			}
		}
		if !s.cfg.Normalize {
			jobDone(nil)
			done <- result{b: data, info: info}
			return
		}
		res, err := imageproc.ReencodeContext(ctx, data, info, s.cfg.IngestOptions)
		jobDone(err)
		if err == nil && !res.Passthrough {
			s.metrics.reencodes.WithLabelValues("ingest").Inc()
		}
		done <- result{b: res.Bytes, info: res.Info, err: err}
	})
	if errors.Is(err, imageproc.ErrOverBudget) {
		return nil, info, err // too_many_pixels: it would never fit
	}
	if err != nil {
		return nil, info, errBusy
	}
	select {
	case r := <-done:
		return r.b, r.info, r.err
	case <-s.ctx.Done():
		return nil, info, ErrShuttingDown
	}
}
