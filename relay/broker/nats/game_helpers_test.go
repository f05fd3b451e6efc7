package natsbroker

import (
	"bytes"
	"encoding/json"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/game"
	"github.com/lxzan/gws"
)

// gameWait is how long a game test waits for an event that must come:
// generous, for -race on a shared two-core machine.
const gameWait = 10 * time.Second

// gameConfig is the game config of the cross-node tests: game seconds of
// second, short pauses, players leaving with their last connection, and
// the words drawn in order.
func gameConfig(second time.Duration, words ...string) game.Config {
	return game.Config{
		Words: words, Second: second, Pause: 50 * time.Millisecond, LeaveGrace: -1,
		Intn: func(int) int { return 0 },
	}
}

// startGameNode is startNode with games on.
func startGameNode(t *testing.T, ns *natsServer, name string, gcfg game.Config) *node {
	t.Helper()
	return startGameNodeWith(t, ns, name, gcfg, nil)
}

// startGameNodeWith is startGameNode with a change to the relay's config.
func startGameNodeWith(t *testing.T, ns *natsServer, name string, gcfg game.Config, tweak func(*relay.Config)) *node {
	t.Helper()
	return startNodeWith(t, ns, name, func(rc *relay.Config) {
		gcfg.Logger = testLogger(t).With("node", name)
		gcfg.Claims = rc.Broker.(*Broker).GameClaims()
		rc.Game = game.Factory(gcfg)
		if tweak != nil {
			tweak(rc)
		}
	})
}

// kill stops n as if its process died: its broker stops without goodbye
// (presence keys and game claims stay until they expire), then the relay
// closes its connections, with nothing reaching NATS any more.
func (n *node) kill() {
	n.b.shutdown(false)
	n.stop()
}

// player is a real gws client that keeps every byte it read from its
// socket, to check what the relay ever told it.
type player struct {
	*tclient
	id string // client id

	mu  sync.Mutex // guards raw
	raw []byte
}

type recordingConn struct {
	net.Conn
	p *player
}

func (r recordingConn) Read(b []byte) (int, error) {
	n, err := r.Conn.Read(b)
	r.p.mu.Lock()
	r.p.raw = append(r.p.raw, b[:n]...)
	r.p.mu.Unlock()
	return n, err
}

type dialFunc func(network, addr string) (net.Conn, error)

func (d dialFunc) Dial(network, addr string) (net.Conn, error) { return d(network, addr) }

// join connects client id (named name) to room on n and reads its hello.
func join(t *testing.T, n *node, room, id, name string) *player {
	t.Helper()
	return joinWith(t, n, room, id, name, "")
}

// joinWith is join with more query parameters (&token=…).
func joinWith(t *testing.T, n *node, room, id, name, query string) *player {
	t.Helper()
	p := &player{id: id}
	p.tclient = &tclient{t: t, name: name + "@" + n.name, msgs: make(chan tmsg, 4096), closed: make(chan struct{})}
	ws, _, err := gws.NewClient(tHandler{c: p.tclient}, &gws.ClientOption{
		Addr:               n.ws + "/ws/" + room + "?client=" + id + "&name=" + name + query,
		ReadMaxPayloadSize: 16 << 20,
		NewDialer: func() (gws.Dialer, error) {
			return dialFunc(func(network, addr string) (net.Conn, error) {
				nc, err := net.Dial(network, addr)
				if err != nil {
					return nil, err
				}
				return recordingConn{Conn: nc, p: p}, nil
			}), nil
		},
	})
	if err != nil {
		t.Fatalf("%s: dial: %v", p.name, err)
	}
	p.ws = ws
	go ws.ReadLoop()
	t.Cleanup(p.close)
	p.hello = p.expect("hello").ev
	return p
}

// rawBytes is everything read from the socket so far.
func (p *player) rawBytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.raw)
}

// nextSkipping reads the next message that is not presence.
func (p *player) nextSkipping() tmsg {
	p.t.Helper()
	for {
		m := p.next(gameWait)
		if m.typ != "presence" {
			return m
		}
	}
}

// expectGame reads the next message, skipping presence, and checks that it
// is the game event ev.
func (p *player) expectGame(ev string) tmsg {
	p.t.Helper()
	m := p.nextSkipping()
	if m.typ != "game" || str(m.ev, "event") != ev {
		p.t.Fatalf("%s: got %s, want game event %q", p.name, describe(m), ev)
	}
	return m
}

// expectNext reads the next message, skipping presence, and checks its
// type (and, when code is set, its error code).
func (p *player) expectNext(typ, code string) tmsg {
	p.t.Helper()
	m := p.nextSkipping()
	if m.typ != typ || code != "" && str(m.ev, "code") != code {
		p.t.Fatalf("%s: got %s, want %s %s", p.name, describe(m), typ, code)
	}
	return m
}

func (p *player) send(s string) {
	p.t.Helper()
	if err := p.ws.WriteString(s); err != nil {
		p.t.Fatalf("%s: send: %v", p.name, err)
	}
}

func (p *player) chat(text string) {
	p.t.Helper()
	b, _ := json.Marshal(map[string]string{"type": "chat", "text": text})
	p.send(string(b))
}

func (p *player) sendImage(img []byte) {
	p.t.Helper()
	if err := p.ws.WriteMessage(gws.OpcodeBinary, img); err != nil {
		p.t.Fatalf("%s: send image: %v", p.name, err)
	}
}

// clientsOf lists the client ids of a start event's players or a reveal
// or over event's scores, in order, and the scores by client.
func clientsOf(t *testing.T, m tmsg, field string) ([]string, map[string]int) {
	t.Helper()
	list, ok := m.ev[field].([]any)
	if !ok {
		t.Fatalf("no %s list in %s", field, describe(m))
	}
	var order []string
	scores := map[string]int{}
	for _, x := range list {
		e, _ := x.(map[string]any)
		order = append(order, str(e, "client"))
		scores[str(e, "client")] = num(e, "score")
	}
	return order, scores
}

// waitCount waits until every node counts want members in room.
func waitCount(t *testing.T, room string, want int, nodes ...*node) {
	t.Helper()
	waitFor(t, gameWait, "presence converged", func() bool {
		for _, n := range nodes {
			if n.count(room) != want {
				return false
			}
		}
		return true
	})
}
