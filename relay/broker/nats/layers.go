package natsbroker

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// Layers implements relay.Broker: it reads the last frame of each client of
// the room from the layer stream, through a short-lived consumer that
// delivers the last message per subject. It returns the MaxLayers most
// recently updated, least recently updated first.
//
// The room subscribes before it calls Layers, so a frame published meanwhile
// arrives live as well; the late joiner's latest-wins queue keeps the newer
// of the two.
func (b *Broker) Layers(ctx context.Context, room string) ([]*relay.Envelope, error) {
	if b.isClosed() {
		return nil, relay.ErrBrokerClosed
	}
	if !b.nc.IsConnected() {
		return nil, fmt.Errorf("natsbroker: layers of %s: %w", room, ErrDisconnected)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	msgs, pending, err := b.fetchLast(ctx, room, false, b.cfg.MaxLayers)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: layers of %s: %w", room, err)
	}
	if pending > b.cfg.MaxLayers {
		return b.layersTrimmed(ctx, room)
	}
	out := make([]*relay.Envelope, 0, len(msgs))
	for _, m := range msgs {
		if env := b.decodeLayer(room, m.Data()); env != nil {
			out = append(out, env)
		}
	}
	return out, nil
}

func (b *Broker) decodeLayer(room string, data []byte) *relay.Envelope {
	env, err := decodeEnvelope(room, data)
	if err != nil || env.Kind != relay.KindFrame {
		b.badMessages.Add(1)
		return nil
	}
	return env
}

// fetchLast reads the last message of each frame subject of room, in stream
// order, with headers only if asked. If there are more than limit (0: no
// limit), it reads none and only returns how many there are.
func (b *Broker) fetchLast(ctx context.Context, room string, headersOnly bool, limit int) ([]jetstream.Msg, int, error) {
	cons, err := b.js.CreateConsumer(ctx, b.cfg.Stream, jetstream.ConsumerConfig{
		FilterSubject:     layerFilter(room),
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       headersOnly,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // the server removes it if the delete below is lost
	})
	if err != nil {
		return nil, 0, fmt.Errorf("consumer: %w", err)
	}
	info := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), b.cfg.RequestTimeout)
		defer cancel()
		_ = b.js.DeleteConsumer(dctx, b.cfg.Stream, info.Name)
	}()
	pending := int(info.NumPending)
	if pending == 0 || (limit > 0 && pending > limit) {
		return nil, pending, nil
	}
	out := make([]jetstream.Msg, 0, pending)
	for len(out) < pending {
		// Each batch may take RequestTimeout to start arriving (less if ctx
		// ends sooner): a bound on waiting, not on the whole read, so a
		// big room's layers on a busy node are read in full as long as
		// they keep coming. The loop ends: each batch brings at least one
		// of the pending layers, or ends it.
		wait := b.cfg.RequestTimeout
		if d, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(d))
		}
		if err := ctx.Err(); err != nil || wait <= 0 {
			return out, pending, fmt.Errorf("fetch: %w", cmp.Or(err, context.DeadlineExceeded))
		}
		batch, err := cons.Fetch(min(pending-len(out), b.layerBatch(headersOnly)), jetstream.FetchMaxWait(wait))
		if err != nil {
			return out, pending, fmt.Errorf("fetch: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		if n == 0 {
			if err := batch.Error(); err != nil {
				return out, pending, fmt.Errorf("fetch: %w", err)
			}
			break // replaced or expired meanwhile
		}
	}
	return out, pending, nil
}

// fetchBatchBytes bounds the bytes of one fetch of layers: the NATS server
// disconnects a client with more than 64 MiB pending (a slow consumer), and
// the client library drops what goes over its own 64 MiB per subscription,
// so nine 8 MiB layers in one batch would cut the node off.
const fetchBatchBytes = 32 << 20

// layerBatch is how many layers one fetch asks for: at most 256, and, with
// their frames, no more than fetchBatchBytes of frames of MaxBytes each.
func (b *Broker) layerBatch(headersOnly bool) int {
	if headersOnly {
		return 256
	}
	return max(1, min(256, fetchBatchBytes/NeededPayload(b.cfg.MaxBytes)))
}

// layersTrimmed serves a room that holds more layers than MaxLayers (many
// client ids published in it): it reads only the headers of all of them,
// gets the newest MaxLayers by sequence, and purges the older ones from the
// stream, so the room is back within its bound and the next joiner reads
// MaxLayers frames only.
func (b *Broker) layersTrimmed(ctx context.Context, room string) ([]*relay.Envelope, error) {
	heads, _, err := b.fetchLast(ctx, room, true, 0)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: layers of %s: %w", room, err)
	}
	type ref struct {
		subject string
		seq     uint64
	}
	refs := make([]ref, 0, len(heads))
	for _, m := range heads {
		if md, err := m.Metadata(); err == nil {
			refs = append(refs, ref{m.Subject(), md.Sequence.Stream})
		}
	}
	cut := max(0, len(refs)-b.cfg.MaxLayers)
	st, err := b.js.Stream(ctx, b.cfg.Stream)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: layers of %s: %w", room, err)
	}
	out := make([]*relay.Envelope, 0, len(refs)-cut)
	for _, r := range refs[cut:] {
		raw, err := st.GetMsg(ctx, r.seq)
		if err != nil {
			continue // replaced by a newer frame meanwhile, which arrives live
		}
		if env := b.decodeLayer(room, raw.Data); env != nil {
			out = append(out, env)
		}
	}
	purged := 0
	for _, r := range refs[:cut] {
		// Up to this sequence only: a frame the client publishes now stays.
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(r.subject), jetstream.WithPurgeSequence(r.seq+1)); err == nil {
			purged++
		}
	}
	b.log.Info("room over its layer bound: purged the oldest", "room", room, "layers", len(refs), "purged", purged, "max_layers", b.cfg.MaxLayers)
	return out, nil
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
	st, err := b.js.Stream(ctx, b.cfg.Stream)
	if err == nil {
		err = st.Purge(ctx, jetstream.WithPurgeSubject(layerFilter(room)))
	}
	if err != nil {
		return fmt.Errorf("natsbroker: clear layers of %s: %w", room, err)
	}
	return nil
}
