package relay

import "github.com/prometheus/client_golang/prometheus"

// patchMetrics are the collectors of patch frames (patch.go, compose.go).
type patchMetrics struct {
	patchesIn      prometheus.Counter
	keyframes      prometheus.Counter
	patchBytesSent prometheus.Counter
	patchFullBytes prometheus.Counter
	composes       prometheus.Counter
}

func (m *metrics) registerPatchMetrics() {
	m.patchesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_patches_accepted_total", Help: "Patch frames accepted and published (a subset of canvasrelay_frames_accepted_total)."})
	m.keyframes = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_keyframe_requests_total", Help: "keyframe events sent: a sender's layer log reached its bound."})
	m.patchBytesSent = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_patch_bytes_sent_total", Help: "Bytes written to subscribers as patches (frame event and image)."})
	m.patchFullBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_patch_full_frame_bytes_total", Help: "Bytes those patch writes would have cost as full frames (the size of the full frame each patch applies to, frame event and image)."})
	m.composes = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_composed_frames_total", Help: "Full frames composed from a layer log (one per patch, output and sender at most)."})
	m.reg.MustRegister(m.patchesIn, m.keyframes, m.patchBytesSent, m.patchFullBytes, m.composes)
}

// patchWritten counts a frame written to a subscriber when it is a patch.
func (m *metrics) patchWritten(env *Envelope, wire int) {
	if env.Patch == nil {
		return
	}
	m.patchBytesSent.Add(float64(wire))
	m.patchFullBytes.Add(float64(len(env.logOf().wireBytes())))
}
