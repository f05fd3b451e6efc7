package natsbroker

import (
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
	cons, err := b.js.CreateConsumer(ctx, b.cfg.Stream, jetstream.ConsumerConfig{
		FilterSubject:     layerFilter(room),
		DeliverPolicy:     jetstream.DeliverLastPerSubjectPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute, // the server removes it if Delete below is lost
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: layers of %s: consumer: %w", room, err)
	}
	info := cons.CachedInfo()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), b.cfg.RequestTimeout)
		defer cancel()
		_ = b.js.DeleteConsumer(dctx, b.cfg.Stream, info.Name)
	}()
	pending := int(info.NumPending)
	if pending == 0 {
		return nil, nil
	}
	deadline, _ := ctx.Deadline()
	batch, err := cons.Fetch(pending, jetstream.FetchMaxWait(time.Until(deadline)))
	if err != nil {
		return nil, fmt.Errorf("natsbroker: layers of %s: fetch: %w", room, err)
	}
	// Messages come in stream order, least recently updated first; keep
	// the last MaxLayers.
	keep := make([]jetstream.Msg, 0, min(pending, b.cfg.MaxLayers))
	for m := range batch.Messages() {
		if len(keep) == b.cfg.MaxLayers {
			copy(keep, keep[1:])
			keep = keep[:len(keep)-1]
		}
		keep = append(keep, m)
	}
	out := make([]*relay.Envelope, 0, len(keep))
	for _, m := range keep {
		env, err := decodeEnvelope(room, m.Data())
		if err != nil || env.Kind != relay.KindFrame {
			b.badMessages.Add(1)
			continue
		}
		out = append(out, env)
	}
	if err := batch.Error(); err != nil && len(out) == 0 {
		return nil, fmt.Errorf("natsbroker: layers of %s: %w", room, err)
	}
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
