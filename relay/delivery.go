package relay

import (
	"sync"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// delivery is what changes while one frame is delivered on this node: the
// Envelope itself never does. NewFrameEnvelope makes it with the envelope,
// so every node that builds a frame (the sender's, or one that received it
// from a cluster broker) has its own, and a retained layer keeps its own.
type delivery struct {
	// Set before publish, never changed after.
	ack    *ackTicket // the sender's ack, when the frame was accepted here: queues and writes count for it
	ackFor *ackTicket // a rendition's: its writes count for the frame it was made from

	rendMu sync.Mutex            // guards rends
	rends  map[string]*rendEntry // renditions computed from this frame, by rendition key
}

// ticket is the ack ticket that a write of e counts for: its own, or for a
// rendition, the one of the frame it was made from. nil for none.
func (e *Envelope) ticket() *ackTicket {
	if e.local == nil {
		return nil
	}
	if e.local.ackFor != nil {
		return e.local.ackFor
	}
	return e.local.ack
}

// queuedTicket is the ack ticket that counts a subscriber queueing e: only
// the sender's own frame's (a rendition is queued after the ack was
// decided).
func (e *Envelope) queuedTicket() *ackTicket {
	if e.local == nil {
		return nil
	}
	return e.local.ack
}

// wireBytes returns e as it goes on the wire: its event frame and, for a
// KindFrame, the image frame right after it. A frame made by
// NewFrameEnvelope has them already; anything else is encoded here, so a
// caller that writes e to many subscribers encodes it once (room.deliver).
func (e *Envelope) wireBytes() []byte {
	switch {
	case e.wire != nil:
		return e.wire
	case e.Kind == KindFrame:
		return wire.EncodeImage(e.Event, e.Image)
	default:
		return encodeFrame(opText, e.Event)
	}
}

// cachedRendition returns the cache entry of e's rendition key, made empty
// when new (hit false). The cache is bounded (maxRendsPerEnvelope); past it,
// and for a frame without a delivery, the entry is not kept.
func (e *Envelope) cachedRendition(key string) (ent *rendEntry, hit bool) {
	d := e.local
	if d == nil {
		return &rendEntry{}, false
	}
	d.rendMu.Lock()
	defer d.rendMu.Unlock()
	if ent, ok := d.rends[key]; ok {
		return ent, true
	}
	ent = &rendEntry{}
	if d.rends == nil {
		d.rends = make(map[string]*rendEntry)
	}
	if len(d.rends) < maxRendsPerEnvelope {
		d.rends[key] = ent
	}
	return ent, false
}
