package natsbroker

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The mirror. A node gets the frames of each room it has local
// subscriptions in from the stream's republish (liveSubject), in the
// order of each sender's log, once they are stored. It keeps a copy of
// each sender's log (roomMirror) so that a patch is linked into its log
// (relay.Log) before it is delivered: the relay composes full frames from
// the log for subscribers without patches=1 and for renditions, and a
// subscriber that missed patches takes them from the log.
//
// A patch that does not continue the log the mirror has (the node
// subscribed after the log's full frame, the mirror evicted the log, or a
// message was lost) is not delivered: the log is read from the stream
// first, on a sync worker (syncLoop), never on the NATS callback. While a
// log is read, its newer frames are not delivered either; the read goes on
// from where it ended until it has them, then delivers every one it had not
// delivered, in order. So local members get each sender's log in order,
// with no gap, and the mirror holds only what the stream holds.
//
// Bounds: a room's mirror keeps at most MaxLayers logs (and remembers at
// most twice that many senders), all mirrors together at most
// MirrorMaxBytes beyond what is being delivered (the least recently updated
// logs go first, evicted by evictLoop as soon as the total is over; an
// evicted log is read again from the stream at its next patch); at most syncWorkers
// reads run at once and syncQueue wait, beyond which a log's patch is
// dropped for this node's members (counted: Stats.SyncDrops) until its
// next full frame or a patch that comes in order.

const (
	syncWorkers = 4
	syncQueue   = 256
	syncRounds  = 8 // reads of one log per sync, at most
)

// frameMsg is a frame read from the stream: its envelope, its log state
// and its stream sequence (0: a frame that reached local members only).
type frameMsg struct {
	env  *relay.Envelope
	meta logMeta
	seq  uint64
}

// roomMirror is the mirror of one room's logs.
type roomMirror struct {
	mu   sync.Mutex            // guards logs and every mirrorLog; taken by the NATS callback, sync workers and PublishPatch
	logs map[string]*mirrorLog // client → its log
}

// mirrorLog is one sender's log on this node. Guarded by roomMirror.mu.
type mirrorLog struct {
	client  string
	log     *relay.Log // nil: not known (evicted, or never seen)
	tail    uint64     // stream sequence of log.Last(); 0 when log is nil or not stored
	meta    logMeta    // log.Last()'s state
	bytes   int64      // log.Bytes(), counted in Broker.mirrorBytes
	used    int64      // unix nanos of the last change, for eviction
	syncing bool       // a sync worker owns the log: nothing of it is delivered meanwhile
	missed  bool       // a frame of it arrived while it was read
	// The newest frame delivered to local members: its full frame's id and
	// its index in that log. Ids and indexes, not stream sequences, say
	// what a node has: a stream made again (a NATS restart without its
	// store) numbers its messages from 1 again.
	dBase  string
	dIdx   int
	broken string // id of a full frame that is not in the stream any more: its patches are dropped
}

type syncJob struct {
	rs     *roomState
	client string
}

// liveHandler takes the room's republished frames.
func (b *Broker) liveHandler(rs *roomState) nats.MsgHandler {
	return func(m *nats.Msg) {
		fm, err := decodeFrameMsg(rs.name, m.Data, m.Header)
		if err != nil {
			b.badMessages.Add(1)
			b.log.Debug("dropped a bad frame", "subject", m.Subject, "err", err)
			return
		}
		fm.seq, _ = strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		fresh := b.seen.first(fm.env.ID)
		if !fresh {
			b.duplicates.Add(1)
		}
		b.take(rs, fm, fresh)
	}
}

// decodeFrameMsg decodes a frame of the layer stream.
func decodeFrameMsg(room string, data []byte, h nats.Header) (frameMsg, error) {
	env, err := decodeEnvelope(room, data)
	if err != nil {
		return frameMsg{}, err
	}
	if env.Kind != relay.KindFrame {
		return frameMsg{}, ErrBadMessage
	}
	meta, _ := parseLogMeta(h)
	if env.Patch == nil {
		env.Width, env.Height = meta.width, meta.height
	}
	return frameMsg{env: env, meta: meta}, nil
}

// take applies a frame to the room's mirror and delivers what it can;
// fresh says whether its id is new to this node (else it is applied but
// not delivered again). It never waits on the network.
func (b *Broker) take(rs *roomState, fm frameMsg, fresh bool) {
	mr := &rs.mirror
	mr.mu.Lock()
	ml := b.mirrorLogLocked(rs, fm.env.Client)
	switch {
	case ml.syncing:
		ml.missed = true // the sync reads on until it has it
	case fm.env.Patch != nil && ml.broken != "" && fm.meta.baseID == ml.broken:
		b.syncDrops.Add(1) // a patch of a log whose full frame is gone
	default:
		if b.applyLocked(rs, ml, fm, fresh) {
			b.startSyncLocked(rs, ml)
		}
		b.trimRoomLocked(mr, ml.client)
	}
	mr.mu.Unlock()
	b.kickEvict()
}

// kickEvict wakes the evictor when the mirrors are over MirrorMaxBytes:
// the scan of every room is never made on a NATS callback.
func (b *Broker) kickEvict() {
	if b.mirrorBytes.Load() > b.cfg.MirrorMaxBytes {
		signal(b.evictKick)
	}
}

// evictLoop evicts while the mirrors are over MirrorMaxBytes.
func (b *Broker) evictLoop() {
	defer b.loops.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.evictKick:
			b.evictMirror()
		}
	}
}

// mirrorLogLocked returns client's mirrorLog in rs, made if needed; a room
// that remembers too many senders forgets the least recently updated one
// that is not syncing.
func (b *Broker) mirrorLogLocked(rs *roomState, client string) *mirrorLog {
	mr := &rs.mirror
	if ml := mr.logs[client]; ml != nil {
		return ml
	}
	if mr.logs == nil {
		mr.logs = make(map[string]*mirrorLog)
	}
	if len(mr.logs) >= 2*b.cfg.MaxLayers {
		if old := oldestLocked(mr, "", false); old != nil {
			b.dropLogLocked(old)
			delete(mr.logs, old.client)
		}
	}
	ml := &mirrorLog{client: client, used: time.Now().UnixNano()}
	mr.logs[client] = ml
	return ml
}

// oldestLocked returns mr's least recently updated log other than keep's,
// among those that hold a log when withLog is set; never a syncing one.
func oldestLocked(mr *roomMirror, keep string, withLog bool) *mirrorLog {
	var old *mirrorLog
	for c, ml := range mr.logs {
		if c == keep || ml.syncing || (withLog && ml.log == nil) {
			continue
		}
		if old == nil || ml.used < old.used {
			old = ml
		}
	}
	return old
}

// applyLocked puts fm into ml's log: a full frame starts a new log, a patch
// must continue it (its index and full frame). It delivers fm to local
// members unless they had it or fresh is false, and reports a gap: fm does
// not continue the log the mirror has.
func (b *Broker) applyLocked(rs *roomState, ml *mirrorLog, fm frameMsg, fresh bool) (gap bool) {
	env, base, idx := fm.env, fm.meta.baseID, fm.meta.idx
	switch {
	case env.Patch == nil:
		base, idx = env.ID, 0
		if ml.log != nil && ml.log.Base().ID == env.ID {
			return false // in the log already
		}
		b.setLogLocked(ml, relay.NewLog(env))
		ml.broken = ""
	case ml.log == nil || base != ml.log.Base().ID || idx > ml.log.Len():
		return true
	case idx < ml.log.Len():
		return false // in the log already
	default:
		if _, err := ml.log.Append(env); err != nil {
			return true // the stream's log does not check: read it again
		}
		b.setLogLocked(ml, ml.log)
	}
	ml.tail, ml.meta = fm.seq, fm.meta
	if fresh && (base != ml.dBase || idx > ml.dIdx) {
		ml.dBase, ml.dIdx = base, idx
		for _, s := range *rs.subs.Load() {
			s.deliver(env)
		}
	}
	return false
}

// setLogLocked makes l ml's log and accounts for its bytes; the room keeps
// at most MaxLayers logs.
func (b *Broker) setLogLocked(ml *mirrorLog, l *relay.Log) {
	b.mirrorBytes.Add(l.Bytes() - ml.bytes)
	ml.log, ml.bytes, ml.used = l, l.Bytes(), time.Now().UnixNano()
}

// dropLogLocked forgets ml's log (not the sender).
func (b *Broker) dropLogLocked(ml *mirrorLog) {
	b.mirrorBytes.Add(-ml.bytes)
	ml.log, ml.bytes, ml.tail, ml.meta = nil, 0, 0, logMeta{}
}

// trimRoomLocked keeps at most MaxLayers logs in mr.
func (b *Broker) trimRoomLocked(mr *roomMirror, keep string) {
	n := 0
	for _, ml := range mr.logs {
		if ml.log != nil {
			n++
		}
	}
	for ; n > b.cfg.MaxLayers; n-- {
		old := oldestLocked(mr, keep, true)
		if old == nil {
			return
		}
		b.dropLogLocked(old)
	}
}

// startSyncLocked hands ml to a sync worker: a frame did not continue its
// log.
func (b *Broker) startSyncLocked(rs *roomState, ml *mirrorLog) {
	ml.syncing = true
	select {
	case b.syncQ <- syncJob{rs: rs, client: ml.client}:
	default:
		ml.syncing = false
		b.syncDrops.Add(1)
		b.log.Debug("mirror: sync queue full; a patch is not delivered here", "room", rs.name, "client", ml.client)
	}
}

// tail is the end of client's log as the mirror knows it.
func (mr *roomMirror) tail(client string) (logTail, bool) {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	ml := mr.logs[client]
	if ml == nil || ml.log == nil || ml.tail == 0 || ml.syncing {
		return logTail{}, false
	}
	return logTail{seq: ml.tail, meta: ml.meta}, true
}

// syncLoop is a sync worker.
func (b *Broker) syncLoop() {
	defer b.loops.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case j := <-b.syncQ:
			b.syncLog(j.rs, j.client)
		}
	}
}

// syncLog reads client's log from the stream into the mirror and delivers
// what local members have not had: from the mirror's end when it has a log
// that the stream continues, else the whole subject. It reads on while
// newer frames arrived meanwhile, at most syncRounds times.
func (b *Broker) syncLog(rs *roomState, client string) {
	mr := &rs.mirror
	subject := frameSubject(rs.name, client)
	whole := false
	for range syncRounds {
		mr.mu.Lock()
		ml := mr.logs[client]
		if ml == nil || !ml.syncing {
			mr.mu.Unlock()
			return
		}
		from := uint64(0)
		if !whole && ml.log != nil && ml.tail > 0 {
			from = ml.tail + 1
		}
		ml.missed = false
		mr.mu.Unlock()

		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
		msgs, err := b.readLog(ctx, rs.name, subject, from)
		cancel()

		mr.mu.Lock()
		if mr.logs[client] != ml || !ml.syncing { // forgotten meanwhile (a clear, an eviction)
			mr.mu.Unlock()
			return
		}
		if err != nil {
			ml.syncing = false
			b.syncDrops.Add(1)
			mr.mu.Unlock()
			b.log.Warn("mirror: could not read a log from the stream", "room", rs.name, "client", client, "err", err)
			return
		}
		gap := false
		for _, fm := range msgs {
			if gap = b.applyLocked(rs, ml, fm, true); gap {
				break
			}
		}
		// The frame that started the sync, and any that came since, were
		// stored before they were republished: a read made after them has
		// them, or a newer log.
		switch {
		case from > 0 && (gap || len(msgs) == 0):
			whole = true // the stream does not continue the mirror's log (or was made again): read it whole
		case len(msgs) == 0:
			b.dropLogLocked(ml) // the subject is empty: cleared
			ml.syncing = false
		case gap:
			// The subject does not start with a full frame (it left the
			// stream by age or bytes): drop its patches until the next.
			ml.broken = msgs[0].meta.baseID
			b.dropLogLocked(ml)
			ml.syncing = false
			b.syncDrops.Add(1)
		case ml.missed:
			whole = false // more arrived meanwhile: read on
		default:
			ml.syncing = false
		}
		done := !ml.syncing
		b.trimRoomLocked(mr, client)
		mr.mu.Unlock()
		b.kickEvict()
		if done {
			return
		}
	}
	mr.mu.Lock()
	if ml := mr.logs[client]; ml != nil {
		ml.syncing = false
	}
	mr.mu.Unlock()
	b.syncDrops.Add(1)
}

// readLog reads subject's messages from the stream, from sequence from
// (0: all of them), and keeps the newest log among them: from its last
// full frame on, when there is one.
func (b *Broker) readLog(ctx context.Context, room, subject string, from uint64) ([]frameMsg, error) {
	cfg := jetstream.ConsumerConfig{FilterSubject: subject, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	msgs, err := b.readMsgs(ctx, cfg)
	if err != nil {
		return nil, err
	}
	out := b.frameMsgs(room, msgs)
	for i := len(out) - 1; i > 0; i-- {
		if out[i].env.Patch == nil {
			return out[i:], nil
		}
	}
	return out, nil
}

// frameMsgs decodes messages of the layer stream, dropping bad ones.
func (b *Broker) frameMsgs(room string, msgs []jetstream.Msg) []frameMsg {
	out := make([]frameMsg, 0, len(msgs))
	for _, m := range msgs {
		fm, err := decodeFrameMsg(room, m.Data(), m.Headers())
		if err != nil {
			b.badMessages.Add(1)
			continue
		}
		if md, err := m.Metadata(); err == nil {
			fm.seq = md.Sequence.Stream
		}
		out = append(out, fm)
	}
	return out
}

// evictMirror forgets the least recently updated logs of all rooms while
// the mirrors hold more than MirrorMaxBytes. It runs on evictLoop only.
func (b *Broker) evictMirror() {
	for b.mirrorBytes.Load() > b.cfg.MirrorMaxBytes {
		b.mu.Lock()
		rooms := make([]*roomState, 0, len(b.rooms))
		for _, rs := range b.rooms {
			rooms = append(rooms, rs)
		}
		b.mu.Unlock()
		var (
			victim *roomState
			used   int64
			client string
		)
		for _, rs := range rooms {
			rs.mirror.mu.Lock()
			if old := oldestLocked(&rs.mirror, "", true); old != nil && (victim == nil || old.used < used) {
				victim, used, client = rs, old.used, old.client
			}
			rs.mirror.mu.Unlock()
		}
		if victim == nil {
			return
		}
		victim.mirror.mu.Lock()
		if ml := victim.mirror.logs[client]; ml != nil && ml.log != nil && !ml.syncing {
			b.dropLogLocked(ml)
		}
		victim.mirror.mu.Unlock()
	}
}

// clearMirror forgets room's logs on this node (ClearLayers, or the room's
// last subscription gone).
func (b *Broker) clearMirror(rs *roomState) {
	mr := &rs.mirror
	mr.mu.Lock()
	defer mr.mu.Unlock()
	for c, ml := range mr.logs {
		b.dropLogLocked(ml)
		delete(mr.logs, c)
	}
}
