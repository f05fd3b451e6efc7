package game

import (
	"encoding/json"
	"fmt"

	"github.com/canvasrelay/canvasrelay/relay"
)

// Game inputs: what the coordinators of one room on different nodes tell
// each other, as the JSON payload of KindGameInput envelopes on the room's
// broker subject. Members never see them.
//
//	alive    {node, rev}                  the referee holds the claim (sent after each renewal, and before a game's start)
//	joined   {node, p}                    a member joined on node: for the referee ("to" empty)
//	left     {node, p}                    a member left on node: for the referee
//	command  {node, to, p, action}        a stop (or an unknown action) for the referee named in to
//	chat     {node, to, p, text}          a chat line during a game, for the referee named in to
//	handover {node, rev, state}           the referee's room emptied on its node: whoever renews the claim at rev goes on with state
const (
	opAlive    = "alive"
	opJoined   = "joined"
	opLeft     = "left"
	opCommand  = "command"
	opChat     = "chat"
	opHandover = "handover"
)

// input is one game input.
type input struct {
	Op      string      `json:"op"`
	Node    string      `json:"node"`         // the node that sent it
	To      string      `json:"to,omitempty"` // the node it is for; "" = whichever holds the claim
	P       *wirePlayer `json:"p,omitempty"`
	Action  string      `json:"action,omitempty"`
	Rounds  *int        `json:"rounds,omitempty"`
	Seconds *int        `json:"seconds,omitempty"`
	Text    string      `json:"text,omitempty"`
	Rev     uint64      `json:"rev,omitempty"`
	State   *matchState `json:"state,omitempty"`
}

type wirePlayer struct {
	Conn      string `json:"conn"`
	Client    string `json:"client"`
	Name      string `json:"name"`
	Publish   bool   `json:"pub,omitempty"` // the connection's rights: only
	Subscribe bool   `json:"sub,omitempty"` // one with both plays
}

func toWire(p relay.Player) *wirePlayer {
	return &wirePlayer{Conn: p.Conn, Client: p.Client, Name: p.Name, Publish: p.Publish, Subscribe: p.Subscribe}
}

func (w *wirePlayer) player() relay.Player {
	return relay.Player{Conn: w.Conn, Client: w.Client, Name: w.Name, Publish: w.Publish, Subscribe: w.Subscribe}
}

// decodeInput parses a game input and checks that it has what its op needs.
func decodeInput(data []byte) (*input, error) {
	var in input
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, fmt.Errorf("game input: %w", err)
	}
	if in.Node == "" {
		return nil, fmt.Errorf("game input %q: no node", in.Op)
	}
	switch in.Op {
	case opAlive:
	case opJoined, opLeft, opCommand, opChat:
		if in.P == nil || in.P.Conn == "" || in.P.Client == "" {
			return nil, fmt.Errorf("game input %q: no player", in.Op)
		}
	case opHandover:
		if in.State == nil || in.Rev == 0 {
			return nil, fmt.Errorf("game input %q: no state or revision", in.Op)
		}
	default:
		return nil, fmt.Errorf("game input: unknown op %q", in.Op)
	}
	return &in, nil
}

// clusterRoom is the room as the referee of a cluster coordinator sees it:
// its players are the room's members on every node.
type clusterRoom struct{ relay.GameRoom }

func (c clusterRoom) Players() []relay.Player { return c.GameRoom.AllPlayers() }

// seenEvent is any game event, as a node that does not referee reads it.
type seenEvent struct {
	Type    string       `json:"type"`
	Event   string       `json:"event"`
	Players []PlayerInfo `json:"players"` // start
	Drawer  string       `json:"drawer"`  // turn
	Name    string       `json:"name"`    // turn, guessed
	Client  string       `json:"client"`  // guessed
	Points  int          `json:"points"`  // guessed
	Scores  []Score      `json:"scores"`  // reveal, over
}
