package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Disconnect reasons (the "reason" label of canvasrelay_disconnects_total).
const (
	reasonClient        = "client"         // the peer closed or went away
	reasonShutdown      = "shutdown"       // Server.Shutdown
	reasonSlowConsumer  = "slow_consumer"  // a write timed out
	reasonQueueOverflow = "queue_overflow" // outbound queue over its cap
	reasonReadTimeout   = "read_timeout"   // nothing read within ReadTimeout
	reasonTooBig        = "too_big"        // frame over MaxBytes
	reasonInvalidUTF8   = "invalid_utf8"   // text frame not UTF-8
	reasonPolicy        = "policy"         // abuse, token expiry
	reasonError         = "error"          // I/O or protocol error
)

// Drop reasons (the "reason" label of canvasrelay_frames_dropped_total).
const (
	dropSuperseded  = "superseded"   // latest-wins: a newer frame from the same source replaced it
	dropClosed      = "closed"       // the subscriber went away with it pending
	dropWriteFailed = "write_failed" // the write of it failed (the subscriber went away)
)

// metrics are the server's Prometheus collectors, on a registry of its own.
type metrics struct {
	reg *prometheus.Registry

	connections   prometheus.Gauge
	rooms         prometheus.Gauge
	framesIn      prometheus.Counter
	framesOK      prometheus.Counter
	framesBad     *prometheus.CounterVec // code
	bytesIn       prometheus.Counter
	bytesOut      prometheus.Counter
	deliveries    prometheus.Counter
	dropped       *prometheus.CounterVec // reason
	disconnects   *prometheus.CounterVec // reason, code
	chats         prometheus.Counter
	publishWrite  prometheus.Histogram
	upgradeErrors *prometheus.CounterVec // status

	reencodes       *prometheus.CounterVec   // kind: rendition, ingest
	reencodeSeconds *prometheus.HistogramVec // kind
	reencodeErrors  *prometheus.CounterVec   // kind, code
	rateLimited     *prometheus.CounterVec   // what: frame, chat
	violations      *prometheus.CounterVec   // code: rate_limited, bad_request, forbidden
	acksHeld        prometheus.Counter
	acksTimedOut    prometheus.Counter
	authFailures    *prometheus.CounterVec // reason
	rendHits        prometheus.Counter
	rendMisses      prometheus.Counter
	imageAbandoned  *prometheus.CounterVec // kind: rendition, ingest

	patchMetrics
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	m.connections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "canvasrelay_connections", Help: "Open WebSocket connections."})
	m.rooms = prometheus.NewGauge(prometheus.GaugeOpts{Name: "canvasrelay_rooms", Help: "Rooms with local members."})
	m.framesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_frames_received_total", Help: "Binary frames read from clients."})
	m.framesOK = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_frames_accepted_total", Help: "Binary frames accepted and published."})
	m.framesBad = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_frames_rejected_total", Help: "Binary frames rejected, by error code."}, []string{"code"})
	m.bytesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_bytes_received_total", Help: "Payload bytes read from clients (text and binary)."})
	m.bytesOut = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_bytes_sent_total", Help: "Payload bytes written to clients (text and binary)."})
	m.deliveries = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_deliveries_total", Help: "Image frames written to subscribers."})
	m.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_frames_dropped_total", Help: "Image frames not written to a subscriber, by reason."}, []string{"reason"})
	m.disconnects = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_disconnects_total", Help: "Closed connections, by reason and close code."}, []string{"reason", "code"})
	m.chats = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_chat_messages_total", Help: "Chat lines relayed."})
	m.publishWrite = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "canvasrelay_publish_to_write_seconds", Help: "Time from accepting a frame to finishing its write to one subscriber.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	m.upgradeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_upgrade_rejected_total", Help: "WebSocket upgrade requests refused, by HTTP status."}, []string{"status"})
	m.reencodes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_reencodes_total", Help: "Images re-encoded, by kind (rendition, ingest); pass-throughs are not counted."}, []string{"kind"})
	m.reencodeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "canvasrelay_reencode_seconds", Help: "Time of one image job (re-encode or full verification), by kind.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 12)}, []string{"kind"})
	m.reencodeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_reencode_errors_total", Help: "Re-encodes that failed or were refused, by kind and code."}, []string{"kind", "code"})
	m.rendHits = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_rendition_cache_hits_total", Help: "Renditions served from one already computed for the same frame."})
	m.rendMisses = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_rendition_cache_misses_total", Help: "Renditions computed (one per frame and distinct rendition)."})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_rate_limited_total", Help: "Frames and chat lines refused by a rate limit, by what."}, []string{"what"})
	m.violations = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_violations_total", Help: "Answers that count towards closing a connection with 1008 (MaxViolations), by code."}, []string{"code"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_auth_failures_total", Help: "Upgrades refused for their token, by reason."}, []string{"reason"})
	m.imageAbandoned = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "canvasrelay_image_jobs_abandoned_total", Help: "Image jobs (renditions, ingest verification and normalising) abandoned over their CPU time budget, by kind."}, []string{"kind"})
	m.acksHeld = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_acks_held_total", Help: "Acks held until the frame was written to half the local subscribers that took it (every ack of a frame that some local subscriber took)."})
	m.acksTimedOut = prometheus.NewCounter(prometheus.CounterOpts{Name: "canvasrelay_acks_timed_out_total", Help: "Held acks sent because they had waited 1 s: a stalled majority, or a frame replaced before any subscriber took it."})
	for _, c := range []prometheus.Collector{m.imageAbandoned, m.acksHeld, m.acksTimedOut, m.rateLimited, m.violations, m.authFailures, m.reencodes, m.reencodeSeconds, m.reencodeErrors, m.rendHits, m.rendMisses,
		m.connections, m.rooms, m.framesIn, m.framesOK, m.framesBad, m.bytesIn, m.bytesOut, m.deliveries, m.dropped, m.disconnects, m.chats, m.publishWrite, m.upgradeErrors} {
		f(c)
	}
	m.registerPatchMetrics()
	return m
}
