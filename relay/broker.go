package relay

import (
	"context"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Kind says what an Envelope carries.
type Kind uint8

const (
	KindFrame    Kind = iota + 1 // an accepted image and its frame event
	KindChat                     // a chat event
	KindPresence                 // a presence event (join or leave)
	KindGame                     // a game event
	// KindGameInput is a game input from one node's game to the room's
	// games on every node (see GameRoom.SendInput). The relay hands it
	// to the room's Game (Game.Input) and never to members.
	KindGameInput
)

// Envelope is one message between a room's publish and its delivery. It is
// immutable once published: brokers, subscribers and retained layers share
// it, and no field of it changes after Publish (a layer log broker sets the
// log fields inside Publish, before any delivery). What changes while a frame
// is delivered on a node (the sender's ack ticket, the renditions computed
// from it) lives in its delivery (delivery.go), a type of its own.
type Envelope struct {
	// ID is unique per message (node id + counter), so a broker can drop
	// duplicates.
	ID string
	// Kind says what it carries.
	Kind Kind
	// Room is the room it belongs to.
	Room string
	// Origin is the id of the connection that sent it. That connection does
	// not get it back; the ids are unique across nodes.
	Origin string
	// Client is the publisher's client id: frames are latest-wins and
	// retained per Client.
	Client string
	// Event is the JSON text event delivered to members as it is.
	Event []byte
	// Image is the image of a KindFrame, sent as a binary frame right after
	// Event.
	Image []byte
	// TS is when the relay accepted it, in ms since the Unix epoch.
	TS int64
	// Seq is the publisher's seq for a frame.
	Seq uint64
	// To, when not nil, restricts delivery to the connections of these
	// client ids that play (a game hides chat from some members; a
	// viewer or upload-only connection never gets such chat).
	To []string
	// PrivateFor, when set, names the client whose connections that play
	// get Private instead of Event (a game tells only the drawer the word;
	// a viewer or upload-only connection of that client gets Event).
	PrivateFor string
	// Private is the event PrivateFor's connections get.
	Private []byte
	// ToConn, when set, restricts delivery to the one connection with this
	// id, on whichever node holds it, whatever its rights (a game answers
	// one member on another node, as a reply).
	ToConn string
	// Patch, for a KindFrame that is a patch, is the rectangle of its
	// sender's layer that it replaces; nil for a full frame.
	Patch *PatchRect
	// Width and Height are a KindFrame's image size, from its header; 0
	// when unknown (a frame from another node).
	Width, Height int

	// The layer log (layerlog.go): set by a LayerLog broker while it
	// publishes a frame, before any delivery; read-only after.
	logBase *Envelope      // the full frame a patch applies to; nil for a full frame
	logIdx  int            // 0 for a full frame, k for its k-th patch
	logPrev []*Envelope    // the log before it (logBase, patches 1..logIdx-1); never appended to
	info    imageproc.Info // a KindFrame's header, when it was accepted on this node (saves an Inspect)

	// Set by NewFrameEnvelope, before publish; never changed after.
	wire  []byte    // a KindFrame's event and image frames; Event and Image point into it
	local *delivery // a KindFrame's delivery state on this node
}

// addressedTo reports whether a connection of client (that plays, or not)
// gets e at all.
func (e *Envelope) addressedTo(client string, plays bool) bool {
	if e.To == nil {
		return true
	}
	if !plays {
		return false
	}
	for _, c := range e.To {
		if c == client {
			return true
		}
	}
	return false
}

// NewFrameEnvelope builds a KindFrame envelope whose Event and Image live
// inside its wire encoding, so the image is held once. It copies image.
// Brokers that receive frames from other nodes build them with it.
func NewFrameEnvelope(event, image []byte) *Envelope {
	enc := wire.EncodeImage(event, image)
	evStart := wire.FrameHeaderLen(len(event))
	imgStart := evStart + len(event) + wire.FrameHeaderLen(len(image))
	return &Envelope{
		Kind:  KindFrame,
		Event: enc[evStart : evStart+len(event) : evStart+len(event)],
		Image: enc[imgStart:],
		wire:  enc,
		local: &delivery{},
	}
}

// size is the number of bytes e holds and puts on the wire.
func (e *Envelope) size() int { return len(e.Event) + len(e.Image) + 14 }

// Member is one connection in a room, as the broker sees it.
type Member struct {
	Conn      string
	Client    string
	Name      string
	Publish   bool // the connection's rights: a game seats only members
	Subscribe bool // that may both publish and subscribe (Player.Plays)
}

// Subscription is a node's live feed of one room. Close stops it.
type Subscription interface {
	Close() error
}

// Broker sits between a room's publish and the delivery to its members. A
// node holds one subscription per room that has local members, and delivers
// to those members only from it. An implementation must deliver each
// envelope at most once per subscription, in publish order per publisher.
//
// The in-memory broker (NewMemoryBroker) serves a single node. A clustered
// broker carries the same calls between nodes, so that a frame published on
// one node reaches members on another, presence counts are room-wide, and
// retained layers are shared.
type Broker interface {
	// Subscribe starts delivering the room's envelopes to deliver, which must
	// not block. Envelopes published before Subscribe returns may be missed;
	// late joiners read Layers after subscribing.
	Subscribe(room string, deliver func(*Envelope)) (Subscription, error)
	// Publish sends env to every subscription of env.Room. A KindFrame
	// envelope also becomes env.Client's retained layer in the room.
	Publish(ctx context.Context, env *Envelope) error
	// Layers returns the room's retained frames, least recently updated first.
	Layers(ctx context.Context, room string) ([]*Envelope, error)
	// Join adds m to the room's presence and returns the room's member count
	// after it, across every node.
	Join(ctx context.Context, room string, m Member) (int, error)
	// Leave removes m and returns the count after it.
	Leave(ctx context.Context, room string, m Member) (int, error)
	// ClientHolds reports whether client holds anything in room that the
	// broker keeps: an open connection (presence) on any node, or a
	// retained layer. The relay grants a requested client id only when it
	// holds nothing, unless the client proves it owns the id (see
	// identity.go). An implementation that cannot tell returns an error;
	// the relay then gives a fresh id.
	ClientHolds(ctx context.Context, room, client string) (bool, error)
	// Close releases the broker.
	Close() error
}

// LayerClearer is implemented by brokers that can forget a room's
// retained layers (a game clears them at each turn).
type LayerClearer interface {
	ClearLayers(ctx context.Context, room string) error
}

// MemberLister is implemented by brokers that know the members a room has
// on other nodes (a game played across nodes seats them).
type MemberLister interface {
	// RemoteMembers lists room's members on other nodes, node by node, each
	// node's in join order.
	RemoteMembers(room string) []Member
}

// HealthChecker is implemented by brokers that can be degraded (a lost
// connection to a cluster). /readyz reports not ready while Healthy returns
// an error.
type HealthChecker interface {
	Healthy() error
}
