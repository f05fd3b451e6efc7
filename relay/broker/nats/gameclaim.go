package natsbroker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Game claims: exactly one node referees each room's game
// (relay.GameClaims). A claim is the key <room> (escaped as a subject token)
// of the KV bucket Config.GameBucket ("relay_games"); its value is the id
// of the node that holds it. The bucket's TTL is 5/6 of PresenceTTL (the
// age at which the presence sweep drops a silent node), and the holder
// renews its key every third of that (package relay/game does), so the
// claim of a node that died is gone, and its game over, within the
// presence TTL, and a new game can start.
// Create, Update and Delete are compare-and-set on the key's revision: two
// nodes never both hold a claim, and a node that lost its claim (it
// expired while the node could not reach NATS) cannot renew it by mistake.
//
// The bucket is made at the first claim, so a cluster that plays no game
// never has it; a bucket lost in a NATS restart is made again at the next
// call once JetStream answers (a call while the restarted server still
// recovers its streams times out, and the player who asked gets an
// `internal` error).

// gameClaims implements relay.GameClaims on the broker's connection.
type gameClaims struct {
	b *Broker // static

	mu sync.Mutex         // guards kv
	kv jetstream.KeyValue // nil until first used, and after the bucket was lost
}

var (
	_ relay.MemberLister = (*Broker)(nil)
	_ relay.GameClaims   = (*gameClaims)(nil)
)

// GameClaims are the broker's game claims, for game.Config.Claims: with
// them, each room's game is refereed by one node of the cluster.
func (b *Broker) GameClaims() relay.GameClaims { return b.claims }

func (g *gameClaims) Node() string       { return g.b.cfg.NodeID }
func (g *gameClaims) TTL() time.Duration { return claimTTL(g.b.cfg.PresenceTTL) }

// claimTTL is the life of a game claim without a renewal.
func claimTTL(presence time.Duration) time.Duration { return presence - presence/6 }

// Claim implements relay.GameClaims with a KV create.
func (g *gameClaims) Claim(ctx context.Context, room string) (uint64, bool, error) {
	var rev uint64
	err := g.do(ctx, "claim", func(ctx context.Context, kv jetstream.KeyValue) (err error) {
		rev, err = kv.Create(ctx, escapeToken(room), []byte(g.b.cfg.NodeID))
		return err
	})
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, false, nil
	}
	return rev, err == nil, err
}

// Renew implements relay.GameClaims with a KV update at rev.
func (g *gameClaims) Renew(ctx context.Context, room string, rev uint64) (uint64, bool, error) {
	var next uint64
	err := g.do(ctx, "renew", func(ctx context.Context, kv jetstream.KeyValue) (err error) {
		next, err = kv.Update(ctx, escapeToken(room), []byte(g.b.cfg.NodeID), rev)
		return err
	})
	if lostRevision(err) {
		return 0, false, nil
	}
	return next, err == nil, err
}

// Release implements relay.GameClaims with a KV delete at rev.
func (g *gameClaims) Release(ctx context.Context, room string, rev uint64) error {
	err := g.do(ctx, "release", func(ctx context.Context, kv jetstream.KeyValue) error {
		return kv.Delete(ctx, escapeToken(room), jetstream.LastRevision(rev))
	})
	if lostRevision(err) {
		return nil // not ours any more: nothing to release
	}
	return err
}

// Holder implements relay.GameClaims with a KV get.
func (g *gameClaims) Holder(ctx context.Context, room string) (string, error) {
	var node string
	err := g.do(ctx, "holder", func(ctx context.Context, kv jetstream.KeyValue) error {
		e, err := kv.Get(ctx, escapeToken(room))
		if err == nil {
			node = string(e.Value())
		}
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return "", nil
	}
	return node, err
}

// lostRevision reports whether err says the key is not at the revision
// given: it changed, expired or was deleted.
func lostRevision(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) ||
		errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
}

// do runs op on the bucket within RequestTimeout. If the bucket is gone (a
// NATS restart lost it), it makes the bucket again and runs op once more.
func (g *gameClaims) do(ctx context.Context, step string, op func(context.Context, jetstream.KeyValue) error) error {
	if g.b.isClosed() {
		return relay.ErrBrokerClosed
	}
	if !g.b.nc.IsConnected() {
		return fmt.Errorf("natsbroker: game %s: %w", step, ErrDisconnected)
	}
	ctx, cancel := context.WithTimeout(ctx, g.b.cfg.RequestTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		kv, err := g.bucket(ctx)
		if err != nil {
			return err
		}
		err = op(ctx, kv)
		if attempt == 0 && bucketLost(err) {
			g.mu.Lock()
			g.kv = nil
			g.mu.Unlock()
			continue
		}
		if err != nil && !lostRevision(err) {
			return fmt.Errorf("natsbroker: game %s: %w", step, err)
		}
		return err
	}
}

func bucketLost(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// bucket returns the claims bucket, made if needed.
func (g *gameClaims) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	g.mu.Lock()
	kv := g.kv
	g.mu.Unlock()
	if kv != nil {
		return kv, nil
	}
	cfg := g.b.cfg
	kv, err := g.b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.GameBucket,
		Description: "canvasrelay game claims: the node that referees each room's game",
		History:     1,
		TTL:         claimTTL(cfg.PresenceTTL),
		Storage:     jetstream.MemoryStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbroker: game bucket %s: %w", cfg.GameBucket, err)
	}
	g.mu.Lock()
	g.kv = kv
	g.mu.Unlock()
	return kv, nil
}

// RemoteMembers implements relay.MemberLister: the room's members on other
// nodes as this node's presence watch knows them, node by node (in node id
// order), each node's in join order (the order of its connection ids).
func (b *Broker) RemoteMembers(room string) []relay.Member {
	b.mu.Lock()
	defer b.mu.Unlock()
	byNode := b.remote[room]
	nodes := make([]string, 0, len(byNode))
	n := 0
	for node, e := range byNode {
		nodes = append(nodes, node)
		n += len(e.members)
	}
	slices.Sort(nodes)
	out := make([]relay.Member, 0, n)
	for _, node := range nodes {
		ms := slices.Clone(byNode[node].members)
		// A node's connection ids are its id and a base-36 counter: the
		// shorter one is the older, then by text.
		slices.SortFunc(ms, func(a, b relay.Member) int {
			return cmp.Or(cmp.Compare(len(a.Conn), len(b.Conn)), cmp.Compare(a.Conn, b.Conn))
		})
		out = append(out, ms...)
	}
	return out
}
