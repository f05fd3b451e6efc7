package game

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// The coordinator against a fake room and fake claims: the paths a real
// cluster does not easily take on demand. The real thing, two relay nodes
// on one NATS server, is tested in relay/broker/nats (game_test.go).

// claimStore is the fake cluster's claims: one per room.
type claimStore struct {
	mu       sync.Mutex // guards everything below
	holder   string
	rev      uint64
	renewErr error // every renewal fails with it
	refuse   bool  // every renewal is refused
}

// fakeClaims is one node's view of a claimStore.
type fakeClaims struct {
	s    *claimStore
	node string
	ttl  time.Duration
}

func (f fakeClaims) Node() string       { return f.node }
func (f fakeClaims) TTL() time.Duration { return f.ttl }

func (f fakeClaims) Claim(context.Context, string) (uint64, bool, error) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if f.s.holder != "" {
		return 0, false, nil
	}
	f.s.holder = f.node
	f.s.rev++
	return f.s.rev, true, nil
}

func (f fakeClaims) Renew(_ context.Context, _ string, rev uint64) (uint64, bool, error) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	switch {
	case f.s.renewErr != nil:
		return 0, false, f.s.renewErr
	case f.s.refuse || f.s.holder == "" || rev != f.s.rev:
		return 0, false, nil
	}
	f.s.holder = f.node
	f.s.rev++
	return f.s.rev, true, nil
}

func (f fakeClaims) Release(_ context.Context, _ string, rev uint64) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if rev == f.s.rev {
		f.s.holder = ""
	}
	return nil
}

func (f fakeClaims) Holder(context.Context, string) (string, error) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return f.s.holder, nil
}

func (s *claimStore) set(f func(s *claimStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// sent is one thing the fake room was asked to send.
type sent struct {
	how  string // all, split, to:<conn>, local, input, chat
	data []byte
}

// fakeRoom is one node's room: local players, the others' as presence
// knows them, and a record of what it was asked to send.
type fakeRoom struct {
	name   string
	claims relay.GameClaims

	mu     sync.Mutex // guards everything below
	local  []relay.Player
	remote []relay.Player
	out    []sent
}

func (r *fakeRoom) record(how string, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, sent{how, data})
}

func (r *fakeRoom) Name() string { return r.name }
func (r *fakeRoom) Players() []relay.Player {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relay.Player(nil), r.local...)
}
func (r *fakeRoom) AllPlayers() []relay.Player {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(append([]relay.Player(nil), r.local...), r.remote...)
}
func (r *fakeRoom) Broadcast(ev []byte)                           { r.record("all", ev) }
func (r *fakeRoom) BroadcastSplit(pub []byte, _ string, _ []byte) { r.record("split", pub) }
func (r *fakeRoom) SendTo(conn string, ev []byte)                 { r.record("to:"+conn, ev) }
func (r *fakeRoom) RelayChat(p relay.Player, text string, _ []string) {
	r.record("chat", []byte(p.Client+": "+text))
}
func (r *fakeRoom) ClearLayers()             {}
func (r *fakeRoom) BroadcastLocal(ev []byte) { r.record("local", ev) }
func (r *fakeRoom) DropLocalFrames()         {}
func (r *fakeRoom) SendInput(in []byte)      { r.record("input", in) }

// waitSent waits until the room was asked to send something how whose data
// contains part, and returns it.
func (r *fakeRoom) waitSent(t *testing.T, how, part string, within time.Duration) sent {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r.mu.Lock()
		for _, s := range r.out {
			if s.how == how && strings.Contains(string(s.data), part) {
				r.mu.Unlock()
				return s
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("room %s: nothing sent %s containing %q within %s; sent: %s", r.name, how, part, within, r.dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// count is how many things were sent how, containing part.
func (r *fakeRoom) count(how, part string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.out {
		if s.how == how && strings.Contains(string(s.data), part) {
			n++
		}
	}
	return n
}

func (r *fakeRoom) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, s := range r.out {
		fmt.Fprintf(&b, "\n  %s %s", s.how, s.data)
	}
	return b.String()
}

var (
	alice = relay.Player{Conn: "a-1", Client: "alice", Name: "Alice", Publish: true, Subscribe: true}
	bob   = relay.Player{Conn: "b-1", Client: "bob", Name: "Bob", Publish: true, Subscribe: true}
)

// newFakeNode is a coordinator on node with a claim TTL of ttl.
func newFakeNode(t *testing.T, s *claimStore, node string, ttl time.Duration, local, remote []relay.Player) (*coordinator, *fakeRoom) {
	t.Helper()
	cfg := testConfig("giraffe", "volcano").withDefaults()
	cfg.Logger = testLogger(t)
	cfg.Intn = firstWord
	room := &fakeRoom{name: "r", claims: fakeClaims{s: s, node: node, ttl: ttl}, local: local, remote: remote}
	c := newCoordinator(room, room.claims, &cfg)
	t.Cleanup(c.Close)
	return c, room
}

// TestCoordinatorLosesClaim: a referee whose claim renewal is refused (it
// expired while the node could not reach the cluster, and another node
// may hold it), or fails for a whole TTL, ends the game for its own
// members only: the other nodes ended it already.
func TestCoordinatorLosesClaim(t *testing.T) {
	tests := []struct {
		name       string
		breakClaim func(s *claimStore)
	}{
		{"refused", func(s *claimStore) { s.refuse = true }},
		{"failing for a TTL", func(s *claimStore) { s.renewErr = errors.New("no NATS") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &claimStore{}
			ttl := 150 * time.Millisecond
			c, room := newFakeNode(t, s, "a", ttl, []relay.Player{alice}, []relay.Player{bob})
			if err := c.Command(alice, relay.GameCommand{Action: ActionStart}); err != nil {
				t.Fatalf("start: got %v, want nil (claimed in the background)", err)
			}
			room.waitSent(t, "all", `"event":"start"`, wait)
			room.waitSent(t, "input", `"op":"alive"`, wait)
			s.set(tt.breakClaim)
			lost := time.Now()
			room.waitSent(t, "local", `"event":"over"`, 3*ttl)
			if took := time.Since(lost); took > ttl+ttl/2 {
				t.Errorf("local over %s after the claim broke, want within about the TTL %s", took, ttl)
			}
			if n := room.count("all", `"event":"over"`); n != 0 {
				t.Errorf("got %d over events for every node, want none: only local members are told", n)
			}
			if c.ref.running() || c.leased() {
				t.Errorf("after the claim was lost: running %v, leased %v; want neither", c.ref.running(), c.leased())
			}
		})
	}
}

// TestCoordinatorStartWhenClaimed: a start while another node holds the
// claim is refused, to the starter only, after a bounded wait; a second
// start while the first is claiming is refused at once.
func TestCoordinatorStartWhenClaimed(t *testing.T) {
	s := &claimStore{holder: "elsewhere", rev: 7}
	c, room := newFakeNode(t, s, "a", time.Second, []relay.Player{alice}, []relay.Player{bob})
	began := time.Now()
	if err := c.Command(alice, relay.GameCommand{Action: ActionStart}); err != nil {
		t.Fatalf("start: got %v, want nil", err)
	}
	var ge *relay.GameError
	if err := c.Command(bob, relay.GameCommand{Action: ActionStart}); !errors.As(err, &ge) || ge.Code != relay.CodeBadRequest {
		t.Errorf("second start: got %v, want bad_request (a game is being started)", err)
	}
	m := room.waitSent(t, "to:"+alice.Conn, `"code":"bad_request"`, wait)
	if !strings.Contains(string(m.data), "already running") {
		t.Errorf("got %s, want already running", m.data)
	}
	if took := time.Since(began); took < 500*time.Millisecond || took > 3*time.Second {
		t.Errorf("refused after %s, want after the bounded retries (750 ms)", took)
	}
	// Bad values and too few players are refused before any claim.
	one := 99
	if err := c.Command(alice, relay.GameCommand{Action: ActionStart, Rounds: &one}); !errors.As(err, &ge) || !strings.Contains(ge.Message, "rounds is 99") {
		t.Errorf("start with rounds 99: got %v, want bad_request", err)
	}
}

// TestCoordinatorWatchdog: a node that follows a game refereed elsewhere
// refuses non-drawers' frames, passes chat on to the referee, and, once
// the referee has been silent for a TTL and its claim is gone, tells its
// members over with the scores it saw; while the claim is still there, it
// waits.
func TestCoordinatorWatchdog(t *testing.T) {
	s := &claimStore{holder: "b", rev: 3}
	ttl := 150 * time.Millisecond
	c, room := newFakeNode(t, s, "a", ttl, []relay.Player{alice}, []relay.Player{bob})
	c.Input(mustJSON(&input{Op: opAlive, Node: "b", Rev: 3}))
	events := []string{
		`{"type":"game","event":"start","by":"bob","rounds":1,"seconds":60,"players":[{"client":"bob","name":"Bob"},{"client":"alice","name":"Alice"}]}`,
		`{"type":"game","event":"turn","turn":1,"turns":2,"drawer":"bob","name":"Bob","hint":"___","length":3,"ends_at":1}`,
	}
	for _, ev := range events {
		c.Observe([]byte(ev))
	}
	if c.AllowFrame(alice) || !c.AllowFrame(bob) {
		t.Errorf("during Bob's turn: alice allowed %v, bob allowed %v; want false, true", c.AllowFrame(alice), c.AllowFrame(bob))
	}
	handled, err := c.Chat(alice, "cat")
	if !handled || err != nil {
		t.Errorf("chat during a game: got %v, %v; want handled by the referee", handled, err)
	}
	in := room.waitSent(t, "input", `"op":"chat"`, wait)
	if !strings.Contains(string(in.data), `"to":"b"`) {
		t.Errorf("chat input: got %s, want it for node b", in.data)
	}
	c.Observe([]byte(`{"type":"game","event":"guessed","client":"alice","name":"Alice","points":90}`))

	time.Sleep(2 * ttl) // silent, but the claim is still there: no over
	if n := room.count("local", "over"); n != 0 {
		t.Fatalf("got over while the referee's claim stands, want none")
	}
	s.set(func(s *claimStore) { s.holder = "" }) // the referee died: its claim expired
	m := room.waitSent(t, "local", `"event":"over"`, ttl)
	var over OverEvent
	if err := json.Unmarshal(m.data, &over); err != nil {
		t.Fatal(err)
	}
	if over.Winner != "alice" || len(over.Scores) != 2 || over.Scores[0] != (Score{Client: "alice", Name: "Alice", Score: 90}) || over.Scores[1] != (Score{Client: "bob", Name: "Bob", Score: DrawerPoints}) {
		t.Errorf("got %s, want alice 90 then bob %d, alice winning", m.data, DrawerPoints)
	}
	if !c.AllowFrame(alice) {
		t.Error("after over: alice's frames refused, want allowed")
	}
	if handled, _ := c.Chat(alice, "hi"); handled {
		t.Error("after over: chat still goes to the referee, want it relayed as usual")
	}
}

// TestViewTies: a node's own over keeps the contract's order: highest
// first, equal scores to whoever reached them first, winner "" when nobody
// scored.
func TestViewTies(t *testing.T) {
	var v view
	v.observe(&seenEvent{Event: EventStart, Players: []PlayerInfo{{Client: "a", Name: "A"}, {Client: "b", Name: "B"}, {Client: "c", Name: "C"}}})
	var over OverEvent
	_ = json.Unmarshal(v.over(), &over)
	if over.Winner != "" || len(over.Scores) != 3 || over.Scores[0].Client != "a" {
		t.Fatalf("nobody scored: got %+v, want winner \"\" and the players in order", over)
	}
	v.observe(&seenEvent{Event: EventTurn, Drawer: "a", Name: "A"})
	v.observe(&seenEvent{Event: EventGuessed, Client: "b", Name: "B", Points: 75}) // b 75, a 25
	v.observe(&seenEvent{Event: EventReveal, Scores: []Score{{Client: "b", Name: "B", Score: 75}, {Client: "a", Name: "A", Score: 25}, {Client: "c", Name: "C", Score: 0}}})
	v.observe(&seenEvent{Event: EventTurn, Drawer: "b", Name: "B"})
	v.observe(&seenEvent{Event: EventGuessed, Client: "c", Name: "C", Points: 50}) // c 50, b 100
	v.observe(&seenEvent{Event: EventGuessed, Client: "a", Name: "A", Points: 75}) // a 100 (reached after b), b 125
	_ = json.Unmarshal(v.over(), &over)
	got := fmt.Sprint(over.Scores)
	if want := "[{b B 125} {a A 100} {c C 50}]"; got != want || over.Winner != "b" {
		t.Errorf("got %s winner %q, want %s winner b", got, over.Winner, want)
	}
	v = view{}
	v.observe(&seenEvent{Event: EventStart, Players: []PlayerInfo{{Client: "a", Name: "A"}, {Client: "b", Name: "B"}}})
	v.observe(&seenEvent{Event: EventTurn, Drawer: "a"})
	v.observe(&seenEvent{Event: EventGuessed, Client: "b", Name: "B", Points: 25}) // b 25 first, then a 25
	_ = json.Unmarshal(v.over(), &over)
	if over.Winner != "b" {
		t.Errorf("tie at 25: got winner %q, want b (reached it first)", over.Winner)
	}
}

// TestHandoverBetweenNodes: the referee's room empties on node a; a hands
// the running game over, node b takes the claim over and goes on with the
// same turn and scores.
func TestHandoverBetweenNodes(t *testing.T) {
	s := &claimStore{}
	carol := relay.Player{Conn: "b-2", Client: "carol", Name: "Carol", Publish: true, Subscribe: true}
	a, roomA := newFakeNode(t, s, "a", time.Second, []relay.Player{alice}, []relay.Player{bob, carol})
	b, roomB := newFakeNode(t, s, "b", time.Second, []relay.Player{bob, carol}, []relay.Player{alice})
	if err := a.Command(alice, relay.GameCommand{Action: ActionStart}); err != nil {
		t.Fatal(err)
	}
	roomA.waitSent(t, "split", `"event":"turn"`, wait)
	a.Input(mustJSON(&input{Op: opChat, Node: "b", To: "a", P: toWire(bob), Text: "GIRAFFE"}))
	roomA.waitSent(t, "all", `"event":"guessed"`, wait)

	roomA.mu.Lock()
	roomA.local, roomA.remote = nil, []relay.Player{bob, carol}
	roomA.mu.Unlock()
	a.Left(alice) // the drawer leaves: the turn ends
	roomA.waitSent(t, "all", `"event":"reveal"`, wait)
	a.Close()
	h := roomA.waitSent(t, "input", `"op":"handover"`, wait)
	b.Input(h.data)
	roomB.waitSent(t, "input", `"op":"alive"`, wait)
	if !b.leased() || !b.ref.running() {
		t.Fatalf("b after the handover: leased %v, running %v; want both", b.leased(), b.ref.running())
	}
	m := roomB.waitSent(t, "split", `"event":"turn"`, wait) // the next turn, from b
	var turn TurnEvent
	_ = json.Unmarshal(m.data, &turn)
	if turn.Turn != 2 || turn.Drawer != "bob" || turn.Turns != 3 {
		t.Errorf("got %s, want turn 2 of 3 drawn by bob", m.data)
	}
	if err := b.Command(carol, relay.GameCommand{Action: ActionStop}); err == nil {
		t.Error("carol stops alice's game: got nil, want forbidden")
	}
	// Alice started it: her stop, from another node, ends it.
	b.Input(mustJSON(&input{Op: opCommand, Node: "a", To: "b", P: toWire(alice), Action: ActionStop}))
	o := roomB.waitSent(t, "all", `"event":"over"`, wait)
	var over OverEvent
	_ = json.Unmarshal(o.data, &over)
	if over.Winner != "bob" || over.Scores[0].Client != "bob" || over.Scores[1] != (Score{Client: "alice", Name: "Alice", Score: DrawerPoints}) {
		t.Errorf("got %s, want bob first, alice with %d", o.data, DrawerPoints)
	}
	waitFor(t, "b releases the claim", func() bool {
		h, _ := fakeClaims{s: s}.Holder(context.Background(), "r")
		return h == ""
	})
}

// waitFor polls cond for up to wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCoordinatorDropsPlayersOfDeadNodes: a player whose node died without
// a word (no left input) drops out of presence; the referee takes it out
// of the game after two renewals without it, so the turn it held up ends.
func TestCoordinatorDropsPlayersOfDeadNodes(t *testing.T) {
	s := &claimStore{}
	ttl := 150 * time.Millisecond
	carol := relay.Player{Conn: "c-1", Client: "carol", Name: "Carol", Publish: true, Subscribe: true}
	c, room := newFakeNode(t, s, "a", ttl, []relay.Player{alice}, []relay.Player{bob, carol})
	if err := c.Command(alice, relay.GameCommand{Action: ActionStart}); err != nil {
		t.Fatal(err)
	}
	room.waitSent(t, "split", `"event":"turn"`, wait)
	c.Input(mustJSON(&input{Op: opChat, Node: "b", To: "a", P: toWire(bob), Text: "giraffe"}))
	room.waitSent(t, "all", `"event":"guessed"`, wait)
	time.Sleep(ttl) // carol is still there: nothing happens
	if n := room.count("all", `"event":"reveal"`); n != 0 {
		t.Fatalf("got a reveal while carol plays, want none")
	}
	room.mu.Lock()
	room.remote = []relay.Player{bob} // carol's node died: presence dropped her
	room.mu.Unlock()
	gone := time.Now()
	room.waitSent(t, "all", `"event":"reveal"`, wait) // everyone left has guessed
	if took := time.Since(gone); took > ttl {
		t.Errorf("reveal %s after carol vanished, want within two renewals (%s)", took, 2*ttl/3)
	}
	m := room.waitSent(t, "split", `"turn":2`, wait)
	if !strings.Contains(string(m.data), `"turns":2`) {
		t.Errorf("got %s, want turn 2 of 2: carol is out", m.data)
	}
}
