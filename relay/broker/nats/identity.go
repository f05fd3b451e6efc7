package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// Identity (relay identity.go): every node must make the same hello.resume
// for a client id, and must know whether an id holds anything in a room on
// any node.
//
// The identity key lives in the KV bucket Config.IdentityBucket
// ("relay_identity"), key "resume-key", file storage, no TTL. The first
// node creates it (a KV create: exactly one node's proposal wins), the
// others read it. After a reconnect the broker writes its key again with a
// create, so a bucket lost in a NATS restart without its store comes back
// with the key the running nodes use.

const identityKeyName = "resume-key"

// identityState is the shared key, once known, and the layer stream's
// handle for lookups. Guarded by its mu.
type identityState struct {
	mu     sync.Mutex
	key    []byte           // nil until SharedIdentityKey succeeded
	stream jetstream.Stream // nil until the first lookup; requests go by name, so it outlives a re-made stream
}

var (
	_ relay.IdentityKeySharer = (*Broker)(nil)
)

// SharedIdentityKey implements relay.IdentityKeySharer: it stores proposed
// as the cluster's identity key unless one exists, and returns the one in
// force.
func (b *Broker) SharedIdentityKey(ctx context.Context, proposed []byte) ([]byte, error) {
	if b.isClosed() {
		return nil, relay.ErrBrokerClosed
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	kv, err := b.identityBucket(ctx)
	if err != nil {
		return nil, err
	}
	key := proposed
	if _, err := kv.Create(ctx, identityKeyName, proposed); errors.Is(err, jetstream.ErrKeyExists) {
		e, gerr := kv.Get(ctx, identityKeyName)
		if gerr != nil {
			return nil, fmt.Errorf("natsbroker: identity key: %w", gerr)
		}
		key = e.Value()
	} else if err != nil {
		return nil, fmt.Errorf("natsbroker: identity key: %w", err)
	}
	b.ident.mu.Lock()
	b.ident.key = append([]byte(nil), key...)
	b.ident.mu.Unlock()
	return key, nil
}

func (b *Broker) identityBucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      b.cfg.IdentityBucket,
		Description: "canvasrelay identity key: makes hello.resume the same on every node",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    b.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: identity bucket %s: %w", b.cfg.IdentityBucket, err)
	}
	return kv, nil
}

// restoreIdentityKey writes the key this node uses back with a create,
// after a reconnect (the bucket may have been lost with its store).
func (b *Broker) restoreIdentityKey(ctx context.Context) {
	b.ident.mu.Lock()
	key := b.ident.key
	b.ident.mu.Unlock()
	if key == nil {
		return
	}
	kv, err := b.identityBucket(ctx)
	if err == nil {
		_, err = kv.Create(ctx, identityKeyName, key)
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		b.log.Warn("identity key not restored", "err", err)
	}
}

// ClientHolds implements relay.Broker: client holds something in room when
// one of its connections is in the room on any node (the presence this
// node knows: its own members and the watched bucket), or when the layer
// stream keeps a frame of it in the room. It fails while NATS is
// unreachable or the presence watch has not caught up, so the relay gives
// a fresh id (fail closed).
func (b *Broker) ClientHolds(ctx context.Context, room, client string) (bool, error) {
	if b.isClosed() {
		return false, relay.ErrBrokerClosed
	}
	if !b.nc.IsConnected() {
		return false, fmt.Errorf("natsbroker: client lookup: %w", ErrDisconnected)
	}
	if !b.ready.Load() {
		return false, errors.New("natsbroker: client lookup: presence watch not ready")
	}
	if b.hasMember(room, client) {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	b.ident.mu.Lock()
	st := b.ident.stream
	b.ident.mu.Unlock()
	if st == nil {
		var err error
		if st, err = b.js.Stream(ctx, b.cfg.Stream); err != nil {
			return false, fmt.Errorf("natsbroker: client lookup: %w", err)
		}
		b.ident.mu.Lock()
		b.ident.stream = st
		b.ident.mu.Unlock()
	}
	subject := frameSubject(room, client)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return false, fmt.Errorf("natsbroker: client lookup: %w", err)
	}
	return info.State.Subjects[subject] > 0, nil
}

// hasMember reports whether client has a connection in room, here or on
// another node.
func (b *Broker) hasMember(room, client string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rs := b.rooms[room]; rs != nil {
		for _, m := range rs.members {
			if m.Client == client {
				return true
			}
		}
	}
	for _, e := range b.remote[room] {
		for _, m := range e.members {
			if m.Client == client {
				return true
			}
		}
	}
	return false
}
