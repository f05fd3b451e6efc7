package relay

import "context"

// Games: a room may host a game (the draw-and-guess game of package
// relay/game). The relay owns the sockets and the fan-out; the game decides.
// The relay offers a room to its game as a GameRoom and calls the Game at
// each point where the game may change what happens:
//
//	{"type":"game",…} text  → Game.Command
//	a chat line             → Game.Chat, before it is relayed
//	a binary frame          → Game.AllowFrame, after it is checked and before it is published
//	a member joined / left  → Game.Joined (after its hello and layers) / Game.Left
//
// Game events are KindGame envelopes on the broker, delivered to every
// member, the sender included.

// Player is one member (one connection) as a game sees it.
type Player struct {
	Conn   string // connection id, unique across nodes
	Client string // stable client id: the same across a reload
	Name   string
}

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
// it must be safe for concurrent use, and it must not block.
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
	// Joined is called once p's hello and layers are queued: events sent to
	// p now come right after them.
	Joined(p Player)
	// Left is called after p left.
	Left(p Player)
	// Close stops the game for good: the room is going away.
	Close()
}

// GameRoom is what the relay offers a room's game. Its methods never block
// on a socket and never call back into the Game.
type GameRoom interface {
	// Name is the room's name.
	Name() string
	// Players lists the room's local members in join order.
	Players() []Player
	// Broadcast sends a game event to every member.
	Broadcast(event []byte)
	// BroadcastSplit sends public to every member except the connections of
	// client, which get private instead (a secret only they may see).
	BroadcastSplit(public []byte, client string, private []byte)
	// SendTo sends an event to one connection.
	SendTo(conn string, event []byte)
	// RelayChat relays a chat line from p, as a normal chat event, to the
	// connections of the given clients only (nil: everyone). p's own
	// connection never gets it back.
	RelayChat(p Player, text string, toClients []string)
	// ClearLayers forgets the room's retained layers and drops the frames
	// not yet sent to its members.
	ClearLayers()
}

// GameFactory makes the game of a room when the room is created on this
// node. It must not start goroutines: a game with nothing running costs
// nothing.
type GameFactory func(room GameRoom) Game

// LayerClearer is implemented by brokers that can forget a room's
// retained layers (needed by games).
type LayerClearer interface {
	ClearLayers(ctx context.Context, room string) error
}

// --- the relay's side ---

func (c *conn) player() Player { return Player{Conn: c.id, Client: c.client, Name: c.name} }

// gameRoom is a room as its game sees it.
type gameRoom struct{ r *room }

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
		}
	}
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
