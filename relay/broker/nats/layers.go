package natsbroker

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// Layers implements relay.Broker: each sender's layer log in the room (its
// full frame, then every patch since, in order, linked as relay.Log links
// them), least recently updated log first. It reads the headers of each
// subject's last message first (their Relay-Log says how big each log
// is), keeps the MaxLayers most recently updated logs (purging the others
// from the stream, layersTrimmed) and of those the newest that fit in
// MaxRoomBytes, then reads those logs whole through one short-lived
// consumer, in batches of at most fetchBatchBytes.
//
// The room subscribes before it calls Layers, so a frame stored meanwhile
// arrives live as well; the late joiner's queue keeps each sender's log in
// order and drops what it has already.
func (b *Broker) Layers(ctx context.Context, room string) ([]*relay.Envelope, error) {
	if b.isClosed() {
		return nil, relay.ErrBrokerClosed
	}
	if !b.nc.IsConnected() {
		return nil, fmt.Errorf("natsbroker: layers of %s: %w", room, ErrDisconnected)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	heads, err := b.readMsgs(ctx, jetstream.ConsumerConfig{
		FilterSubject: layerFilter(room), DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, HeadersOnly: true,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: layers of %s: %w", room, err)
	}
	refs := make([]logRef, 0, len(heads))
	for _, m := range heads {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		r := logRef{subject: m.Subject(), seq: md.Sequence.Stream}
		if meta, ok := parseLogMeta(m.Headers()); ok {
			r.bytes = int64(meta.baseBytes) + meta.patchBytes + int64(meta.idx+1)*msgOverhead
		} else {
			n, _ := strconv.ParseInt(m.Headers().Get("Nats-Msg-Size"), 10, 64)
			r.bytes = n
		}
		refs = append(refs, r)
	}
	slices.SortFunc(refs, func(a, b logRef) int { return cmp.Compare(a.seq, b.seq) })
	if len(refs) > b.cfg.MaxLayers {
		refs = b.layersTrimmed(ctx, room, refs)
	}
	var sum int64
	first := len(refs)
	for first > 0 && sum+refs[first-1].bytes <= b.cfg.MaxRoomBytes {
		first--
		sum += refs[first].bytes
	}
	refs = refs[first:]
	if len(refs) == 0 {
		return nil, nil
	}
	subjects := make([]string, len(refs))
	for i, r := range refs {
		subjects[i] = r.subject
	}
	cfg := jetstream.ConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverAllPolicy}
	if len(subjects) == 1 {
		cfg.FilterSubject, cfg.FilterSubjects = subjects[0], nil
	}
	msgs, err := b.readMsgs(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: layers of %s: %w", room, err)
	}
	return linkLogs(b.frameMsgs(room, msgs), subjects), nil
}

// msgOverhead is about what a frame's message holds beyond its image (its
// event and the broker's header), for Layers' estimate of a log's bytes.
const msgOverhead = 512

// logRef is a sender's log in the stream, as the headers of its last
// message tell it.
type logRef struct {
	subject string
	seq     uint64 // of its last message
	bytes   int64  // about what its messages hold
}

// linkLogs groups a room's frames (in stream order) by sender, keeps each
// sender's newest log (from its last full frame), links it (relay.Log),
// and returns the logs one after the other, least recently updated first.
// A log is cut at the first message that does not continue it, and a
// sender whose frames do not start with a full frame (it left the stream
// by age or bytes) is left out.
func linkLogs(frames []frameMsg, subjects []string) []*relay.Envelope {
	type built struct {
		log  *relay.Log
		last uint64
		cut  bool
	}
	logs := make(map[string]*built, len(subjects))
	for _, fm := range frames {
		c := fm.env.Client
		l := logs[c]
		switch {
		case fm.env.Patch == nil:
			logs[c] = &built{log: relay.NewLog(fm.env), last: fm.seq}
		case l == nil || l.cut:
		case fm.meta.idx != l.log.Len() || fm.meta.baseID != l.log.Base().ID:
			l.cut = true
		default:
			if _, err := l.log.Append(fm.env); err != nil {
				l.cut = true
				continue
			}
			l.last = fm.seq
		}
	}
	order := make([]*built, 0, len(logs))
	n := 0
	for _, l := range logs {
		order = append(order, l)
		n += l.log.Len()
	}
	slices.SortFunc(order, func(a, b *built) int { return cmp.Compare(a.last, b.last) })
	out := make([]*relay.Envelope, 0, n)
	for _, l := range order {
		out = append(out, l.log.Entries()...)
	}
	return out
}

// readMsgs reads the messages a short-lived consumer of the layer stream
// with cfg (its filter and deliver policy; the rest is set here) has
// pending when it is made, in stream order. Each fetch asks for at most
// 256 messages and fetchBatchBytes.
func (b *Broker) readMsgs(ctx context.Context, cfg jetstream.ConsumerConfig) ([]jetstream.Msg, error) {
	cfg.AckPolicy = jetstream.AckNonePolicy
	cfg.MemoryStorage = true
	cfg.InactiveThreshold = time.Minute // the server removes it if the delete below is lost
	cons, err := b.js.CreateConsumer(ctx, b.cfg.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	info := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), b.cfg.RequestTimeout)
		defer cancel()
		_ = b.js.DeleteConsumer(dctx, b.cfg.Stream, info.Name)
	}()
	pending := int(info.NumPending)
	out := make([]jetstream.Msg, 0, min(pending, 4096))
	for len(out) < pending {
		// Each batch may take RequestTimeout to start arriving (less if ctx
		// ends sooner): a bound on waiting, not on the whole read, so a
		// big room's layers on a busy node are read in full as long as
		// they keep coming. The loop ends: each batch brings at least one
		// of the pending messages, or ends it.
		wait := b.cfg.RequestTimeout
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d))
		}
		if err := ctx.Err(); err != nil || wait <= 0 {
			return out, fmt.Errorf("fetch: %w", cmp.Or(err, context.DeadlineExceeded))
		}
		opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(wait)}
		if !cfg.HeadersOnly {
			opts = append(opts, jetstream.FetchMaxBytes(b.fetchBytes()))
		}
		batch, err := cons.Fetch(min(pending-len(out), 256), opts...)
		if err != nil {
			return out, fmt.Errorf("fetch: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		if n == 0 {
			if err := batch.Error(); err != nil {
				return out, fmt.Errorf("fetch: %w", err)
			}
			break // replaced or expired meanwhile
		}
	}
	return out, nil
}

// fetchBatchBytes bounds the bytes of one fetch of layers: the NATS server
// disconnects a client with more than 64 MiB pending (a slow consumer), and
// the client library drops what goes over its own 64 MiB per subscription,
// so nine 8 MiB layers in one batch would cut the node off.
const fetchBatchBytes = 32 << 20

// fetchBytes is the byte bound of one fetch: fetchBatchBytes, or one
// message of the largest image if that is more.
func (b *Broker) fetchBytes() int {
	return max(fetchBatchBytes, NeededPayload(b.cfg.MaxBytes)+4<<10)
}

// layersTrimmed serves a room that holds more logs than MaxLayers (many
// client ids published in it): it keeps the newest MaxLayers of refs (in
// stream order), and purges the older ones from the stream, so the room is
// back within its bound.
func (b *Broker) layersTrimmed(ctx context.Context, room string, refs []logRef) []logRef {
	cut := len(refs) - b.cfg.MaxLayers
	st, err := b.layerStream(ctx)
	if err != nil {
		return refs[cut:]
	}
	purged := 0
	for _, r := range refs[:cut] {
		// Up to its last message only: a frame the client publishes now stays.
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(r.subject), jetstream.WithPurgeSequence(r.seq+1)); err == nil {
			purged++
		}
	}
	b.log.Info("room over its layer bound: purged the oldest", "room", room, "layers", len(refs), "purged", purged, "max_layers", b.cfg.MaxLayers)
	return refs[cut:]
}

// ClearLayers implements relay.LayerClearer: it purges the room's frames from
// the layer stream (a game clears the canvas at each turn).
func (b *Broker) ClearLayers(ctx context.Context, room string) error {
	if b.isClosed() {
		return relay.ErrBrokerClosed
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("natsbroker: clear layers of %s: %w", room, ErrDisconnected)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	st, err := b.layerStream(ctx)
	if err == nil {
		err = st.Purge(ctx, jetstream.WithPurgeSubject(layerFilter(room)))
	}
	if err != nil {
		return fmt.Errorf("natsbroker: clear layers of %s: %w", room, err)
	}
	// This node's own knowledge of the room's logs goes too (other nodes
	// find out at their next append, whose expected sequence fails).
	b.tails.forgetRoom(room)
	b.mu.Lock()
	rs := b.rooms[room]
	b.mu.Unlock()
	if rs != nil {
		b.clearMirror(rs)
	}
	return nil
}
