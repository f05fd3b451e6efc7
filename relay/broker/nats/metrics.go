package natsbroker

import "github.com/prometheus/client_golang/prometheus"

// The broker is a prometheus.Collector: register it on the relay's
// registry (relay.Server.Registry) to export these.
var _ prometheus.Collector = (*Broker)(nil)

var (
	descConnected = prometheus.NewDesc("canvasrelay_broker_nats_connected",
		"1 while the NATS connection is up and the presence watch has caught up, else 0.", nil, nil)
	descFallbacks = prometheus.NewDesc("canvasrelay_broker_local_fallbacks_total",
		"Messages delivered to local members directly because NATS was unreachable or did not acknowledge.", nil, nil)
	descDuplicates = prometheus.NewDesc("canvasrelay_broker_duplicates_dropped_total",
		"Messages from NATS dropped because their id had been delivered already.", nil, nil)
	descBadMessages = prometheus.NewDesc("canvasrelay_broker_bad_messages_total",
		"Messages from NATS (or the layer stream) that could not be decoded.", nil, nil)
	descPublishErrors = prometheus.NewDesc("canvasrelay_broker_publish_errors_total",
		"Publishes to NATS that failed while connected.", nil, nil)
	descSyncDrops = prometheus.NewDesc("canvasrelay_broker_patch_sync_drops_total",
		"Patches not delivered to this node's members because their layer log could not be read from the stream (the sync queue was full, the read failed, or the log's full frame left the stream).", nil, nil)
	descMirrorBytes = prometheus.NewDesc("canvasrelay_broker_mirror_bytes",
		"Bytes of the layer logs this node keeps for its rooms (bounded by MirrorMaxBytes).", nil, nil)
	descRooms = prometheus.NewDesc("canvasrelay_broker_rooms",
		"Rooms with local subscriptions or members.", nil, nil)
	descRemoteRooms = prometheus.NewDesc("canvasrelay_broker_remote_rooms",
		"Rooms with members on other nodes, as seen in the presence bucket.", nil, nil)
)

// Describe implements prometheus.Collector.
func (b *Broker) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descFallbacks, descDuplicates, descBadMessages, descPublishErrors, descSyncDrops, descMirrorBytes, descRooms, descRemoteRooms} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (b *Broker) Collect(ch chan<- prometheus.Metric) {
	st := b.Stats()
	up := 0.0
	if b.Healthy() == nil {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(descFallbacks, prometheus.CounterValue, float64(st.Fallbacks))
	ch <- prometheus.MustNewConstMetric(descDuplicates, prometheus.CounterValue, float64(st.Duplicates))
	ch <- prometheus.MustNewConstMetric(descBadMessages, prometheus.CounterValue, float64(st.BadMessages))
	ch <- prometheus.MustNewConstMetric(descPublishErrors, prometheus.CounterValue, float64(st.PublishErrors))
	ch <- prometheus.MustNewConstMetric(descSyncDrops, prometheus.CounterValue, float64(st.SyncDrops))
	ch <- prometheus.MustNewConstMetric(descMirrorBytes, prometheus.GaugeValue, float64(st.MirrorBytes))
	ch <- prometheus.MustNewConstMetric(descRooms, prometheus.GaugeValue, float64(st.Rooms))
	ch <- prometheus.MustNewConstMetric(descRemoteRooms, prometheus.GaugeValue, float64(st.RemoteRooms))
}
