package relay

import (
	"context"
	"time"
)

// Games: a room may host a game (the draw-and-guess game of package
// relay/game). The relay owns the sockets and the fan-out; the game decides.
// The seam is three interfaces: the relay calls the room's Game at each
// point where the game may change what happens, the game acts on the room
// through its GameRoom, and a game played across nodes takes its claims
// from a GameClaims store (the NATS broker's), which it is given in its own
// config, never found here.
//
//	{"type":"game",…} text  → Game.Command
//	a chat line             → Game.Chat, before it is relayed
//	a binary frame          → Game.AllowFrame, after it is checked and before it is published
//	a member joined / left  → Game.Joined (after its hello and layers) / Game.Left
//	a game input / event    → Game.Input / Game.Observe, from the room's broker feed
//
// The Game's methods must not block: a game changes its state under its
// own lock and acts on the room (GameRoom) only after releasing it, since
// a GameRoom call may reach the network (a publish; ClearLayers may purge
// a NATS stream for up to the broker's request timeout).
//
// Game events are KindGame envelopes on the broker, delivered to every
// member, the sender included.
//
// Across nodes (a clustered broker), a room's game runs on every node that
// has members in it, and exactly one of them referees: the one holding the
// room's claim (GameClaims). The others pass their members' commands, chat,
// joins and leaves to it as KindGameInput envelopes (GameRoom.SendInput,
// Game.Input), watch its events (Game.Observe), and the referee answers
// one member on any node with SendTo (an envelope with ToConn).

// Player is one member (one connection) as a game sees it. Only a
// connection that may both publish and subscribe takes a seat in a game
// (Plays): a viewer (subscribe-only token) or an upload (publish-only
// token) is never a player, whatever its client id.
type Player struct {
	Conn      string // connection id, unique across nodes
	Client    string // stable client id: the same across a reload
	Name      string
	Publish   bool // the connection may send images and chat
	Subscribe bool // the connection receives the room's traffic
}

// Plays reports whether the connection may take a seat in a game: it may
// both publish and subscribe.
func (p Player) Plays() bool { return p.Publish && p.Subscribe }

// GameCommand is a {"type":"game"} command from a client.
type GameCommand struct {
	Action  string
	Rounds  *int // nil when absent
	Seconds *int // nil when absent
}

// GameError is an error a game returns to the member who caused it, as an
// error event with Code (bad_request, forbidden) and Message.
type GameError struct {
	Code    string
	Message string
}

func (e *GameError) Error() string { return e.Code + ": " + e.Message }

// Game referees one room. The relay calls it from many goroutines at once:
// it must be safe for concurrent use, and it must not block (in particular,
// it must not hold its own lock across a GameRoom call).
type Game interface {
	// Command handles a game command from p. A *GameError is sent to p.
	Command(p Player, cmd GameCommand) error
	// Chat sees every chat line before it is relayed. handled means the game
	// took care of it (relayed it itself with GameRoom.RelayChat, or turned
	// it into a game event); a *GameError refuses it.
	Chat(p Player, text string) (handled bool, err error)
	// AllowFrame reports whether p may publish an image now. If not, the
	// frame gets error forbidden and is not fanned out.
	AllowFrame(p Player) bool
	// Joined is called once p's hello and layers are queued, before p's
	// writer starts: events the game sends p before returning come right
	// after them. It may wait for the game's earlier effects to be carried
	// out (never holding a lock that AllowFrame takes).
	Joined(p Player)
	// Left is called after p left.
	Left(p Player)
	// Input is a game input that the room's game on some node (this one
	// included) published with GameRoom.SendInput. Only a game played
	// across nodes gets any.
	Input(input []byte)
	// Observe sees each game event the room receives from the broker,
	// before this node's members get it: addressed ones (To, ToConn) too,
	// whoever they are for. It gets the public Event, never Private.
	Observe(event []byte)
	// Close stops the game for good: the room is going away.
	Close()
}

// GameRoom is what the relay offers a room's game. Its methods never call
// back into the Game, and never block on a socket; those that publish
// wait on the broker (a network call with a clustered broker), so a game
// calls them without holding its lock.
type GameRoom interface {
	// Name is the room's name.
	Name() string
	// Players lists the room's local members in join order.
	Players() []Player
	// AllPlayers lists the room's members on every node: this node's in
	// join order, then the other nodes' as the broker's presence knows them
	// (MemberLister), node by node, each in join order. On a single node it
	// is Players.
	AllPlayers() []Player
	// Broadcast sends a game event to every member.
	Broadcast(event []byte)
	// BroadcastSplit sends public to every member except the seated
	// connections of client (Player.Plays), which get private instead (a
	// secret only they may see).
	BroadcastSplit(public []byte, client string, private []byte)
	// BroadcastLocal sends an event to this node's members only.
	BroadcastLocal(event []byte)
	// SendTo sends an event to one connection: directly when it is on this
	// node, otherwise through the broker to the node that has it.
	SendTo(conn string, event []byte)
	// RelayChat relays a chat line from p, as a normal chat event, to the
	// seated connections of the given clients only (nil: everyone). p's own
	// connection never gets it back.
	RelayChat(p Player, text string, toClients []string)
	// SendInput publishes a game input to the room's game on every node,
	// this one included (Game.Input). Members never get it.
	SendInput(input []byte)
	// ClearLayers forgets the room's retained layers (on every node, with
	// a broker that is a LayerClearer) and drops the frames not yet sent
	// to this node's members.
	ClearLayers()
	// DropLocalFrames drops the frames not yet sent to this node's
	// members (ClearLayers without the broker's part).
	DropLocalFrames()
}

// GameFactory makes the game of a room when the room is created on this
// node. It must not start goroutines: a game with nothing running costs
// nothing.
type GameFactory func(room GameRoom) Game

// GameClaims let exactly one node referee each room's game. A claim is a
// key per room that one node creates, that lives TTL unless renewed, and
// that names the node holding it. Revisions make every change
// compare-and-set. The NATS broker's GameClaims() gives one (a JetStream
// KV bucket); a game takes it in its config (game.Config.Claims).
type GameClaims interface {
	// Node is this node's id, the value of the claims it holds.
	Node() string
	// TTL is how long a claim lives without a renewal.
	TTL() time.Duration
	// Claim creates room's claim for this node. ok is false when another
	// claim exists.
	Claim(ctx context.Context, room string) (rev uint64, ok bool, err error)
	// Renew rewrites room's claim at revision rev for this node, so that it
	// lives another TTL. The holder renews its own claim this way, and a
	// node takes over a claim that was handed to it. ok is false when the
	// claim is no longer at rev (it expired, or another node changed it).
	Renew(ctx context.Context, room string, rev uint64) (newRev uint64, ok bool, err error)
	// Release deletes room's claim if it is still at rev.
	Release(ctx context.Context, room string, rev uint64) error
	// Holder is the node that holds room's claim, "" when none does.
	Holder(ctx context.Context, room string) (node string, err error)
}

// GameErrorEvent is the error event a member gets for a game's refusal that
// reaches it later, or on another node, than its command.
func GameErrorEvent(code, message string) []byte { return errorEvent(code, message, 0) }

// --- the relay's side ---

func (c *conn) player() Player { return Player(c.member()) }

// member is c as presence knows it, its rights included (a game seats only
// members that may publish and subscribe, on whichever node they are).
func (c *conn) member() Member {
	return Member{Conn: c.id, Client: c.client, Name: c.name, Publish: c.canPublish, Subscribe: c.canSubscribe}
}

// plays reports whether c may take a seat in a game (Player.Plays): only
// such a connection is ever told the word or hears the guessers' chat.
func (c *conn) plays() bool { return c.canPublish && c.canSubscribe }

// gameRoom is a room as its game sees it.
type gameRoom struct{ r *room }

var _ GameRoom = gameRoom{}

func (g gameRoom) Name() string { return g.r.name }

func (g gameRoom) Players() []Player {
	v := g.r.view.Load()
	out := make([]Player, 0, len(v.members))
	for _, c := range v.members {
		out = append(out, c.player())
	}
	return out
}

func (g gameRoom) publish(env *Envelope) {
	s := g.r.srv
	env.ID, env.Room, env.TS = s.nextID(), g.r.name, nowMillis()
	if err := s.broker.Publish(s.ctx, env); err != nil {
		s.log.Warn("publish game event", "room", g.r.name, "err", err)
	}
}

func (g gameRoom) Broadcast(event []byte) {
	g.publish(&Envelope{Kind: KindGame, Event: event})
}

func (g gameRoom) BroadcastSplit(public []byte, client string, private []byte) {
	g.publish(&Envelope{Kind: KindGame, Event: public, PrivateFor: client, Private: private})
}

func (g gameRoom) SendTo(connID string, event []byte) {
	for _, c := range g.r.view.Load().members {
		if c.id == connID {
			c.sendEvent(event)
			return
		}
	}
	// Not a member here: perhaps one on another node.
	g.publish(&Envelope{Kind: KindGame, Event: event, ToConn: connID})
}

func (g gameRoom) AllPlayers() []Player {
	out := g.Players()
	ml, ok := g.r.srv.broker.(MemberLister)
	if !ok {
		return out
	}
	local := make(map[string]bool, len(out))
	for _, p := range out {
		local[p.Conn] = true
	}
	for _, m := range ml.RemoteMembers(g.r.name) {
		if !local[m.Conn] {
			out = append(out, Player(m))
		}
	}
	return out
}

func (g gameRoom) BroadcastLocal(event []byte) {
	wire := encodeFrame(opText, event)
	for _, c := range g.r.view.Load().members {
		if c.canSubscribe {
			c.push(outItem{wire: wire, size: len(event) + itemOverhead}, false)
		}
	}
}

func (g gameRoom) DropLocalFrames() {
	for _, c := range g.r.view.Load().members {
		c.q.dropFrames()
	}
}

func (g gameRoom) SendInput(input []byte) {
	g.publish(&Envelope{Kind: KindGameInput, Event: input})
}

func (g gameRoom) RelayChat(p Player, text string, toClients []string) {
	env := &Envelope{Kind: KindChat, Origin: p.Conn, Client: p.Client, To: toClients}
	env.TS = nowMillis()
	env.Event = mustJSON(ChatEvent{Type: TypeChat, Client: p.Client, Name: p.Name, Text: text, TS: env.TS})
	s := g.r.srv
	env.ID, env.Room = s.nextID(), g.r.name
	if err := s.broker.Publish(s.ctx, env); err != nil {
		s.log.Warn("publish chat", "room", g.r.name, "err", err)
		return
	}
	s.metrics.chats.Inc()
}

func (g gameRoom) ClearLayers() {
	s := g.r.srv
	if lc, ok := s.broker.(LayerClearer); ok {
		if err := lc.ClearLayers(s.ctx, g.r.name); err != nil {
			s.log.Warn("clear layers", "room", g.r.name, "err", err)
		}
	}
	for _, c := range g.r.view.Load().members {
		c.q.dropFrames()
	}
}
