package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Broker is a relay.Broker on NATS. See the package doc for the subjects,
// the stream and the bucket it uses.
type Broker struct {
	// Static after New.
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	seen   *dedupe
	claims *gameClaims     // the room game claims (gameclaim.go)
	ident  identityState   // the cluster's identity key, once known (identity.go)
	seats  seatServer      // answers other nodes' seat questions (seats.go)
	ctx    context.Context // ends when Close begins
	cancel context.CancelFunc
	loops  sync.WaitGroup // watchLoop and heartbeatLoop

	reconnected  chan struct{} // cap 1: the NATS connection came back
	restartWatch chan struct{} // cap 1: watchLoop starts a new watch
	closeOnce    sync.Once

	mu        sync.Mutex // guards everything below
	rooms     map[string]*roomState
	remote    map[string]map[string]*remoteEntry // room → node → its members
	staleKeys map[string]struct{}                // presence keys to delete once connected
	closed    bool

	revMu   sync.Mutex    // guards applied and revCh
	applied uint64        // the last presence revision the watch applied
	revCh   chan struct{} // closed when applied moves
	ready   atomic.Bool   // the presence watch has its initial values

	lastEcho atomic.Int64 // unix nanos when the watch last brought back one of this node's writes

	tails       tailCache     // the ends of logs this node learnt (logmeta.go)
	syncQ       chan syncJob  // logs for the sync workers to read (mirror.go)
	mirrorBytes atomic.Int64  // what every room's mirror holds
	evictKick   chan struct{} // cap 1: the mirrors are over MirrorMaxBytes (mirror.go)

	fallbacks, duplicates, badMessages, publishErrors, syncDrops atomic.Uint64
	presenceID                                                   atomic.Uint64
}

// roomState is a room this node has local subscriptions or members in.
type roomState struct {
	name string // static

	subs atomic.Pointer[[]*subscription] // copy on write, read by the NATS handler

	// Guarded by Broker.mu.
	nsub    *nats.Subscription      // the room's events (core), while subs is not empty
	lsub    *nats.Subscription      // the room's frames as the stream republishes them, while subs is not empty
	members map[string]relay.Member // local members by conn id
	busy    int                     // presence writes in progress; keeps the state alive
	joining string                  // the local member whose Join is in progress, if any

	putMu sync.Mutex // serializes this room's presence writes, so the last write holds the latest members

	mirror roomMirror // the room's layer logs on this node (mirror.go)
}

type subscription struct {
	b       *Broker
	rs      *roomState
	deliver func(*relay.Envelope)
	once    sync.Once
}

var (
	_ relay.Broker        = (*Broker)(nil)
	_ relay.HealthChecker = (*Broker)(nil)
	_ relay.LayerClearer  = (*Broker)(nil)
)

// New connects to NATS, checks its max_payload against cfg.MaxBytes,
// creates the layer stream and the presence bucket if needed, and reads the
// current presence. ctx bounds the setup only.
func New(ctx context.Context, cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:          cfg,
		log:          cfg.Logger.With("broker", "nats", "node", cfg.NodeID),
		seen:         newDedupe(cfg.DedupeWindow),
		reconnected:  make(chan struct{}, 1),
		restartWatch: make(chan struct{}, 1),
		rooms:        make(map[string]*roomState),
		remote:       make(map[string]map[string]*remoteEntry),
		staleKeys:    make(map[string]struct{}),
		revCh:        make(chan struct{}),
		syncQ:        make(chan syncJob, syncQueue),
		evictKick:    make(chan struct{}, 1),
	}
	b.claims = &gameClaims{b: b}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), b.natsOptions()...)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: connect to %s: %w", redactURLs(cfg.URLs), err)
	}
	b.nc = nc
	if err := checkPayload(nc.MaxPayload(), cfg.MaxBytes); err != nil {
		nc.Close()
		return nil, err
	}
	b.js, err = jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbroker: jetstream: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	err = b.ensure(sctx)
	cancel()
	if err != nil {
		nc.Close()
		return nil, err
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.loops.Add(3 + syncWorkers)
	go b.watchLoop()
	go b.heartbeatLoop()
	go b.evictLoop()
	for range syncWorkers {
		go b.syncLoop()
	}
	// Join counts are right from the first member on: wait (bounded) for
	// the presence already in the bucket.
	wctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	defer cancel()
	b.waitApplied(wctx, 0)
	if !b.ready.Load() {
		b.shutdown(false)
		return nil, fmt.Errorf("natsbroker: presence bucket %s: no watch within %s", cfg.Bucket, cfg.RequestTimeout)
	}
	b.log.Info("connected to NATS", "url", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload(),
		"stream", cfg.Stream, "bucket", cfg.Bucket, "presence_ttl", cfg.PresenceTTL)
	return b, nil
}

// redactURLs lists urls without their passwords, for messages.
func redactURLs(urls []string) string {
	out := make([]string, len(urls))
	for i, s := range urls {
		if u, err := url.Parse(s); err == nil {
			out[i] = u.Redacted()
		} else {
			out[i] = "(bad url)"
		}
	}
	return strings.Join(out, ",")
}

func (b *Broker) natsOptions() []nats.Option {
	cfg := b.cfg
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.Timeout(cfg.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		// No reconnect buffer: a publish while disconnected fails at once
		// and is delivered locally instead of piling up.
		nats.ReconnectBufSize(-1),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			// The others' heartbeats cannot be heard: stop sweeping until a
			// new watch has read the bucket again.
			b.ready.Store(false)
			b.log.Warn("NATS disconnected; delivering locally until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
			signal(b.reconnected)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Warn("NATS error", "subject", subj, "err", err)
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCAFile))
	}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile))
	}
	return opts
}

// checkPayload fails unless a server max_payload of have carries images of
// maxBytes, and says what to configure.
func checkPayload(have int64, maxBytes int) error {
	need := NeededPayload(maxBytes)
	if have >= int64(need) {
		return nil
	}
	_, conf := SuggestedPayload(maxBytes)
	return fmt.Errorf("%w: the NATS server's max_payload is %d bytes, but --max-bytes %d needs %d (the image plus %d for its event); "+
		"set `max_payload: %s` in the nats-server config (or run `canvasrelay nats --max-payload %sMiB`), or lower --max-bytes",
		ErrMaxPayload, have, maxBytes, need, Headroom, conf, strings.TrimSuffix(conf, "MB"))
}

// ensure creates or updates the layer stream and the presence bucket.
func (b *Broker) ensure(ctx context.Context) error {
	cfg := b.cfg
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "canvasrelay layer logs: the newest full frame of each client in each room and the patches since",
		Subjects:    []string{streamSubjects},
		Retention:   jetstream.LimitsPolicy,
		// A log is its full frame and at most wire.MaxLogPatches patches,
		// and a full frame rolls up its subject: discard-old never drops
		// the full frame of the current log.
		MaxMsgsPerSubject: maxMsgsPerSubject,
		AllowRollup:       true,
		RePublish:         &jetstream.RePublish{Source: streamSubjects, Destination: liveDestination},
		MaxAge:            cfg.LayerMaxAge,
		MaxBytes:          cfg.LayerMaxBytes,
		Discard:           jetstream.DiscardOld,
		Storage:           cfg.LayerStorage,
		Replicas:          cfg.Replicas,
		AllowDirect:       true,
	})
	if err != nil {
		return fmt.Errorf("natsbroker: layer stream %s (is JetStream enabled on the server?): %w", cfg.Stream, err)
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "canvasrelay presence: the members of each room on each node",
		History:     1,
		TTL:         cfg.PresenceTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("natsbroker: presence bucket %s: %w", cfg.Bucket, err)
	}
	b.kv = kv
	return nil
}

// NodeID is the node's name in presence keys.
func (b *Broker) NodeID() string { return b.cfg.NodeID }

// JetStream is the broker's JetStream context, for features that need a
// stream or bucket of their own on the same connection (for example a game
// referee that claims a room with a KV create).
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Healthy implements relay.HealthChecker: it fails while the NATS
// connection is down or the presence watch has not caught up.
func (b *Broker) Healthy() error {
	if b.isClosed() {
		return relay.ErrBrokerClosed
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("%w (%s); local members still reach each other", ErrDisconnected, statusName(b.nc.Status()))
	}
	if !b.ready.Load() {
		return fmt.Errorf("natsbroker: presence watch not ready")
	}
	return nil
}

func statusName(s nats.Status) string {
	switch s {
	case nats.RECONNECTING:
		return "reconnecting"
	case nats.CLOSED:
		return "closed"
	case nats.CONNECTING:
		return "connecting"
	default:
		return s.String()
	}
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// roomLocked returns the state of room, made if needed.
func (b *Broker) roomLocked(room string) *roomState {
	rs := b.rooms[room]
	if rs == nil {
		rs = &roomState{name: room, members: make(map[string]relay.Member)}
		empty := []*subscription{}
		rs.subs.Store(&empty)
		b.rooms[room] = rs
	}
	return rs
}

// maybeDropLocked forgets a room with nothing left.
func (b *Broker) maybeDropLocked(rs *roomState) {
	if len(*rs.subs.Load()) == 0 && len(rs.members) == 0 && rs.busy == 0 && b.rooms[rs.name] == rs {
		delete(b.rooms, rs.name)
	}
}

// Subscribe implements relay.Broker. The first subscription of a room makes
// the room's one core NATS subscription.
func (b *Broker) Subscribe(room string, deliver func(*relay.Envelope)) (relay.Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, relay.ErrBrokerClosed
	}
	rs := b.roomLocked(room)
	if rs.nsub == nil {
		ns, err := b.nc.Subscribe(eventSubject(room), b.handler(rs))
		if err != nil {
			b.maybeDropLocked(rs)
			return nil, fmt.Errorf("natsbroker: subscribe %s: %w", room, err)
		}
		ls, err := b.nc.Subscribe(liveSubject(room), b.liveHandler(rs))
		if err != nil {
			_ = ns.Unsubscribe()
			b.maybeDropLocked(rs)
			return nil, fmt.Errorf("natsbroker: subscribe %s: %w", room, err)
		}
		rs.nsub, rs.lsub = ns, ls
	}
	s := &subscription{b: b, rs: rs, deliver: deliver}
	old := *rs.subs.Load()
	next := append(old[:len(old):len(old)], s)
	rs.subs.Store(&next)
	return s, nil
}

// Close implements relay.Subscription. The last one of a room ends the
// room's NATS subscription.
func (s *subscription) Close() error {
	s.once.Do(func() {
		b, rs := s.b, s.rs
		b.mu.Lock()
		defer b.mu.Unlock()
		old := *rs.subs.Load()
		next := make([]*subscription, 0, len(old))
		for _, x := range old {
			if x != s {
				next = append(next, x)
			}
		}
		rs.subs.Store(&next)
		if len(next) == 0 && rs.nsub != nil {
			_ = rs.nsub.Unsubscribe()
			_ = rs.lsub.Unsubscribe()
			rs.nsub, rs.lsub = nil, nil
			b.clearMirror(rs) // no local member reads it any more
		}
		b.maybeDropLocked(rs)
	})
	return nil
}

// handler delivers the room's events (chat, game): with liveHandler
// (mirror.go) for frames, the only path by which NATS traffic reaches local
// members. Nothing received is published again.
func (b *Broker) handler(rs *roomState) nats.MsgHandler {
	return func(m *nats.Msg) {
		env, err := decodeEnvelope(rs.name, m.Data)
		if err != nil {
			b.badMessages.Add(1)
			b.log.Debug("dropped a bad message", "subject", m.Subject, "err", err)
			return
		}
		if env.Kind == relay.KindPresence {
			return // presence crosses nodes through the bucket, not as events
		}
		if !b.seen.first(env.ID) {
			b.duplicates.Add(1)
			return
		}
		for _, s := range *rs.subs.Load() {
			s.deliver(env)
		}
	}
}

// Publish implements relay.Broker. A frame goes to its client's subject in
// the layer stream, which fans it out and keeps it as the client's layer;
// Publish waits for the stream's acknowledgement, so a frame acked to its
// sender is one every late joiner gets. A chat or game event goes to the
// room's event subject. Presence is delivered to local members only: other
// nodes learn it from the presence bucket.
//
// While NATS is unreachable (or a frame is not acknowledged in time),
// Publish delivers to local members directly, so they still reach each
// other; the id is recorded, and a copy arriving through NATS later is
// dropped.
func (b *Broker) Publish(ctx context.Context, env *relay.Envelope) error {
	if b.isClosed() {
		return relay.ErrBrokerClosed
	}
	if env.Kind == relay.KindPresence {
		b.deliverLocal(env)
		return nil
	}
	if b.nc.IsConnected() {
		err := b.publishNATS(ctx, env)
		if err == nil {
			return nil
		}
		b.publishErrors.Add(1)
		b.log.Warn("publish to NATS failed; delivering locally", "room", env.Room, "kind", env.Kind, "err", err)
	}
	b.fallbacks.Add(1)
	b.deliverLocal(env)
	return nil
}

func (b *Broker) publishNATS(ctx context.Context, env *relay.Envelope) error {
	data := encodeEnvelope(env)
	if env.Kind != relay.KindFrame {
		return b.nc.Publish(eventSubject(env.Room), data)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	// A full frame starts its sender's log: it rolls up the subject.
	subject, meta := frameSubject(env.Room, env.Client), fullMeta(env)
	ack, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data, Header: nats.Header{
		jetstream.MsgRollup: []string{jetstream.MsgRollupSubject},
		hdrLog:              []string{meta.String()},
	}})
	if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		signal(b.reconnected) // the stream is gone (a NATS restart without its store): make it again
	}
	if err == nil {
		b.tails.set(subject, logTail{seq: ack.Sequence, meta: meta})
	}
	return err
}

// deliverLocal hands env to the room's local subscriptions, once: its id is
// recorded, so the same message arriving later through NATS is dropped. A
// full frame delivered so is in no stored log: the sender's patches are
// refused on this node until one of its full frames is stored.
func (b *Broker) deliverLocal(env *relay.Envelope) {
	if env.Kind == relay.KindFrame {
		b.tails.set(frameSubject(env.Room, env.Client), logTail{local: true})
	}
	b.mu.Lock()
	rs := b.rooms[env.Room]
	b.mu.Unlock()
	if rs == nil || !b.seen.first(env.ID) {
		return
	}
	if env.Kind == relay.KindFrame {
		b.take(rs, frameMsg{env: env, meta: fullMeta(env)}, true)
		return
	}
	for _, s := range *rs.subs.Load() {
		s.deliver(env)
	}
}

// Stats are the broker's counters, for tests and metrics.
type Stats struct {
	Fallbacks     uint64 // messages delivered locally because NATS was unreachable
	Duplicates    uint64 // messages dropped because their id was seen
	BadMessages   uint64 // messages that could not be decoded
	PublishErrors uint64 // publishes that failed while connected (delivered locally; a patch is refused)
	SyncDrops     uint64 // patches not delivered here: their log could not be read from the stream (mirror.go)
	MirrorBytes   int64  // what the mirrors of the layer logs hold (at most Config.MirrorMaxBytes, beyond the frames being delivered)
	Rooms         int    // rooms with local subscriptions or members
	RemoteRooms   int    // rooms with members on other nodes
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{
		Fallbacks: b.fallbacks.Load(), Duplicates: b.duplicates.Load(),
		BadMessages: b.badMessages.Load(), PublishErrors: b.publishErrors.Load(),
		SyncDrops: b.syncDrops.Load(), MirrorBytes: b.mirrorBytes.Load(),
		Rooms: len(b.rooms), RemoteRooms: len(b.remote),
	}
}

// Close implements relay.Broker. It says goodbye (deletes this node's
// presence keys, so other nodes drop its members at once), stops its loops
// and closes the connection.
func (b *Broker) Close() error {
	b.shutdown(true)
	return nil
}

// shutdown stops the broker; goodbye says whether to delete the presence
// keys first (tests leave them, to play a node that died).
func (b *Broker) shutdown(goodbye bool) {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		subs := make([]*nats.Subscription, 0, len(b.rooms))
		var keys []string
		for _, rs := range b.rooms {
			if rs.nsub != nil {
				subs = append(subs, rs.nsub, rs.lsub)
				rs.nsub, rs.lsub = nil, nil
			}
			if len(rs.members) > 0 {
				keys = append(keys, presenceKey(rs.name, b.cfg.NodeID))
			}
		}
		keys = append(keys, b.aliveKey())
		b.mu.Unlock()
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		b.seats.mu.Lock()
		if b.seats.sub != nil {
			_ = b.seats.sub.Unsubscribe()
			b.seats.sub = nil
		}
		b.seats.mu.Unlock()
		b.cancel()
		b.loops.Wait()
		if goodbye && b.nc.IsConnected() {
			ctx, cancel := context.WithTimeout(context.Background(), b.cfg.RequestTimeout)
			for _, k := range keys {
				if err := b.kv.Delete(ctx, k); err != nil {
					b.log.Debug("goodbye", "key", k, "err", err)
				}
			}
			_ = b.nc.FlushWithContext(ctx)
			cancel()
		}
		b.nc.Close()
	})
}

// signal sends on a channel of capacity 1 without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
