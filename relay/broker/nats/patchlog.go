package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var _ relay.LayerLog = (*Broker)(nil)

// appendAttempts bounds how many times PublishPatch reads the log again
// after losing a race for its end to another publisher of the same client.
const appendAttempts = 8

// PublishPatch implements relay.LayerLog: it checks env against the end of
// its sender's log in the stream (relay.CheckPatch) and appends it there,
// with the sequence it checked as the expected last sequence of the
// subject, so the append happens only if the log is still what was
// checked; otherwise it reads the log's end again and checks again. The
// stream then republishes the patch to every node (the mirror, mirror.go).
//
// After appendAttempts lost races it gives up with relay.ErrLogContended.
// While NATS is unreachable, or when the append fails for another reason,
// the patch is refused with relay.ErrLogUnavailable: it is never delivered
// locally, since the log that late joiners read would not have it. After
// a full frame that reached local members only (an outage), this node
// refuses the sender's patches with relay.ErrNoFullFrame until one of its
// full frames is stored.
func (b *Broker) PublishPatch(ctx context.Context, env *relay.Envelope) (relay.LogState, error) {
	if b.isClosed() {
		return relay.LogState{}, relay.ErrBrokerClosed
	}
	if !b.nc.IsConnected() {
		return relay.LogState{}, fmt.Errorf("natsbroker: patch: %w: %w", relay.ErrLogUnavailable, ErrDisconnected)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.RequestTimeout)
	defer cancel()
	subject := frameSubject(env.Room, env.Client)
	tail, known := b.tailOf(env.Room, env.Client, subject)
	if tail.local {
		return relay.LogState{}, relay.ErrNoFullFrame
	}
	for attempt := 1; ; attempt++ {
		fresh := !known
		if fresh {
			var err error
			if tail, err = b.readTail(ctx, subject); err != nil {
				return relay.LogState{}, fmt.Errorf("natsbroker: patch: %w: %w", relay.ErrLogUnavailable, err)
			}
			b.tails.set(subject, tail)
		}
		st, err := relay.LogState{}, relay.ErrNoFullFrame
		if tail.seq != 0 && !b.expired(tail.meta) {
			st, err = relay.CheckPatch(tail.meta.width, tail.meta.height, tail.meta.state(), *env.Patch, len(env.Image))
		}
		if err != nil {
			if !fresh {
				known = false // a remembered end may be stale (a full frame from another node): refuse only on the stream's
				continue
			}
			return relay.LogState{}, err
		}
		meta := tail.meta
		meta.idx, meta.patchBytes = st.Patches, st.PatchBytes
		msg := &nats.Msg{Subject: subject, Data: encodeEnvelope(env), Header: nats.Header{hdrLog: []string{meta.String()}}}
		ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(tail.seq))
		if err == nil {
			b.tails.set(subject, logTail{seq: ack.Sequence, meta: meta})
			return st, nil
		}
		if wrongLastSequence(err) {
			if attempt < appendAttempts {
				known = false // another publisher appended, or a full frame came: read the end again
				continue
			}
			return relay.LogState{}, fmt.Errorf("natsbroker: patch: %w after %d attempts", relay.ErrLogContended, attempt)
		}
		b.tails.forget(subject)
		b.publishErrors.Add(1)
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			signal(b.reconnected) // the stream is gone: make it again
		}
		return relay.LogState{}, fmt.Errorf("natsbroker: patch: %w: %w", relay.ErrLogUnavailable, err)
	}
}

// wrongLastSequence reports whether err is the stream's refusal of an
// append whose expected last sequence is not the subject's.
func wrongLastSequence(err error) bool {
	var jsErr jetstream.JetStreamError
	if !errors.As(err, &jsErr) || jsErr.APIError() == nil {
		return false
	}
	code := jsErr.APIError().ErrorCode
	return code == jetstream.JSErrCodeStreamWrongLastSequence || code == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// expired reports whether a log's full frame is about to leave the stream
// by age (LayerMaxAge): a patch on it would be a patch on nothing for late
// joiners. A minute of margin (a tenth of a shorter LayerMaxAge) covers
// the nodes' clocks.
func (b *Broker) expired(m logMeta) bool {
	age := b.cfg.LayerMaxAge
	return time.Since(time.UnixMilli(m.baseTS)) > age-min(time.Minute, age/10)
}

// tailOf returns the newest end of a log this node knows: from its own
// publishes, or from its mirror.
func (b *Broker) tailOf(room, client, subject string) (logTail, bool) {
	t, ok := b.tails.get(subject)
	if t.local {
		return t, true
	}
	b.mu.Lock()
	rs := b.rooms[room]
	b.mu.Unlock()
	if rs != nil {
		if mt, mok := rs.mirror.tail(client); mok && (!ok || mt.seq > t.seq) {
			return mt, true
		}
	}
	return t, ok
}

// readTail reads the end of subject's log from the stream: its last
// message (a direct get, with the image: the Relay-Log header is what
// counts). A subject with no message, or whose last message has no log
// state, is a log with no full frame (seq 0 or width 0).
func (b *Broker) readTail(ctx context.Context, subject string) (logTail, error) {
	st, err := b.layerStream(ctx)
	if err != nil {
		return logTail{}, err
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return logTail{}, nil
	}
	if err != nil {
		return logTail{}, err
	}
	meta, _ := parseLogMeta(m.Header)
	return logTail{seq: m.Sequence, meta: meta}, nil
}

// layerStream returns the layer stream's handle, looked up once.
func (b *Broker) layerStream(ctx context.Context) (jetstream.Stream, error) {
	b.ident.mu.Lock()
	st := b.ident.stream
	b.ident.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := b.js.Stream(ctx, b.cfg.Stream)
	if err != nil {
		return nil, err
	}
	b.ident.mu.Lock()
	b.ident.stream = st
	b.ident.mu.Unlock()
	return st, nil
}
