package relay

import (
	"github.com/canvasrelay/canvasrelay/imageproc"
)

// Composed full frames. A subscriber that did not ask for patches
// (patches=1), and every subscriber with a rendition, gets full frames
// only: for a patch, the relay composes its sender's picture from the
// layer log (the full frame, then each patch over it, in order) and
// encodes it as the subscriber's output asks: `auto` (PNG when any pixel is
// transparent, JPEG otherwise) for a plain subscriber, or the rendition's
// size, format and quality. The work runs on the worker pool, latest-wins
// per (room, sender, output): a newer patch replaces a composition that has
// not started, and each composition is made once per patch and output,
// shared by every subscriber that wants it (cached on the patch's
// envelope, like renditions). Each job reserves its memory
// (imageproc.ComposeCost) from the decode budget; one that could never fit
// is dropped and counted (canvasrelay_reencode_errors_total{kind="compose"}),
// and those subscribers keep the picture they had until the next full
// frame. A full frame itself goes to plain subscribers as it is (the
// composition of a log with no patch is its full frame) and to renditions
// through render.go.
//
// A job decodes the log's full frame and every patch again: it keeps no
// canvas between jobs, so that all its memory is inside the budget. The
// log is bounded (layerlog.go), so this costs at most about three times
// the full frame's decode.

// plainOutput is the output of subscribers without patches=1 and without a
// rendition.
var plainOutput = &rendition{key: "auto", opt: imageproc.Options{Format: imageproc.OutputAuto, Quality: imageproc.DefaultQuality}}

// composedOutput is the output c wants composed frames in, or nil when it
// takes patches as they are.
func (c *conn) composedOutput() *rendition {
	switch {
	case c.rend != nil:
		return c.rend
	case c.patches:
		return nil
	}
	return plainOutput
}

// deliverPatch hands a patch to the local members: as it is to those that
// take patches, and composed to the others, once per output.
func (r *room) deliverPatch(env *Envelope, v *roomView) {
	if env.logBase == nil {
		// In no log: nothing to compose it on, and a subscriber's queue
		// would take it for a log of its own. A LayerLog broker links
		// every patch it delivers (relay.Log), so this is a broker bug.
		r.srv.log.Error("a patch in no layer log: not delivered", "room", r.name, "client", env.Client, "seq", env.Seq)
		return
	}
	var outs []*rendition
	for _, c := range v.members {
		if c.id == env.Origin || !c.canSubscribe {
			continue
		}
		out := c.composedOutput()
		if out == nil {
			c.deliver(env, nil)
			continue
		}
		seen := false
		for _, o := range outs {
			seen = seen || o.key == out.key
		}
		if !seen {
			outs = append(outs, out)
		}
	}
	r.stats.frame(env)
	for _, out := range outs {
		r.composeFor(env, out)
	}
}

// composeInput returns the headers of the log's images: as they were
// read at ingest, or read again (headers only) for a frame from elsewhere.
func (s *Server) composeInput(log []*Envelope) (imageproc.Info, []imageproc.PatchImage, error) {
	base, err := s.headerOf(log[0])
	if err != nil {
		return base, nil, err
	}
	patches := make([]imageproc.PatchImage, 0, len(log)-1)
	for _, p := range log[1:] {
		info, err := s.headerOf(p)
		if err != nil {
			return base, nil, err
		}
		patches = append(patches, imageproc.PatchImage{X: p.Patch.X, Y: p.Patch.Y, Bytes: p.Image, Info: info})
	}
	return base, patches, nil
}

func (s *Server) headerOf(env *Envelope) (imageproc.Info, error) {
	if env.info.Format != "" {
		return env.info, nil
	}
	return imageproc.Inspect(env.Image, s.limits)
}

// composeFor schedules the composed frame of env's log in output out for
// the room's members that want it.
func (r *room) composeFor(env *Envelope, out *rendition) {
	s := r.srv
	log := env.withPrefix()
	base, patches, err := s.composeInput(log)
	if err != nil {
		s.metrics.reencodeErrors.WithLabelValues("compose", imageproc.Code(err)).Inc()
		return
	}
	key := "c\x00" + r.name + "\x00" + env.Client + "\x00" + out.key
	err = s.pool.Submit(key, imageproc.ComposeCost(base, patches, out.opt), func() {
		frame, err := s.composedOf(env, base, patches, out)
		if err != nil {
			return
		}
		for _, c := range r.view.Load().members {
			if c.id == env.Origin || !c.canSubscribe {
				continue
			}
			if o := c.composedOutput(); o != nil && o.key == out.key {
				c.deliver(frame, nil)
			}
		}
	})
	if err != nil {
		s.metrics.reencodeErrors.WithLabelValues("compose", submitErrLabel(err)).Inc()
	}
}

// composedOf returns the picture of env's log, up to env, encoded as out,
// computing it at most once per (envelope, output). It runs on a pool
// worker.
func (s *Server) composedOf(env *Envelope, base imageproc.Info, patches []imageproc.PatchImage, out *rendition) (*Envelope, error) {
	key := "compose\x00" + out.key
	ent, _ := env.cachedRendition(key)
	ent.once.Do(func() {
		ctx, done := s.imageJob("compose")
		res, err := imageproc.Compose(ctx, env.logOf().Image, base, patches, out.opt)
		done(err)
		if err != nil {
			s.metrics.reencodeErrors.WithLabelValues("compose", imageproc.Code(err)).Inc()
			s.log.Debug("compose failed", "room", env.Room, "client", env.Client, "output", out.key, "err", err)
			ent.err = err
			return
		}
		s.metrics.composes.Inc()
		ent.env, ent.err = s.reframe(env, res)
	})
	return ent.env, ent.err
}

// joinLayers gives a late joiner the room's layer logs: whole, for a
// subscriber that takes patches; otherwise a full frame per sender, the
// log's full frame as it is (or rendered) when it has no patch, and
// composed from the log when it has.
func (c *conn) joinLayers(layers []*Envelope) {
	out := c.composedOutput()
	if out == nil {
		c.addLayers(layers, 0)
		return
	}
	var plain []*Envelope
	for _, log := range splitLogs(layers) {
		switch {
		case len(log) > 1:
			c.composedLayerFor(log, out)
		case c.rend != nil:
			c.layerFor(log[0])
		default:
			plain = append(plain, log[0])
		}
	}
	c.addLayers(plain, 0)
}

// composedLayerFor composes a layer log for one late joiner, on the pool.
func (c *conn) composedLayerFor(log []*Envelope, out *rendition) {
	s := c.srv
	last := log[len(log)-1]
	base, patches, err := s.composeInput(log)
	if err != nil {
		return
	}
	key := "l\x00" + c.id + "\x00" + last.Client
	err = s.pool.Submit(key, imageproc.ComposeCost(base, patches, out.opt), func() {
		frame, err := s.composedOf(last, base, patches, out)
		if err != nil {
			return
		}
		c.addLayers([]*Envelope{frame}, s.cfg.RoomRetainedBytes)
	})
	if err != nil {
		s.metrics.reencodeErrors.WithLabelValues("compose", submitErrLabel(err)).Inc()
	}
}

// addLayers gives this late joiner layers (outQueue.addLayers). Beyond
// maxBytes of pending layers they are queued as live frames; an overflow
// of the frame cap cuts the subscriber off, as for live frames.
func (c *conn) addLayers(envs []*Envelope, maxBytes int64) {
	if len(envs) == 0 {
		return
	}
	kick, full, overflow := c.q.addLayers(envs, maxBytes)
	switch {
	case overflow:
		c.closeWith(CloseQueueOverflow, reasonQueueOverflow, "outbound frame queue over its cap")
	case full:
		for _, env := range envs {
			c.deliver(env, nil)
		}
	case kick:
		go c.writeLoop()
	}
}
