package natsbroker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go/jetstream"
)

// TestFrameCrossesNodesExactlyOnce: a frame published on A reaches members
// on A, B and C byte-exact, once each, and not its sender.
func TestFrameCrossesNodesExactlyOnce(t *testing.T) {
	ns := startNATS(t, 0)
	a, b, c := startNode(t, ns, "a"), startNode(t, ns, "b"), startNode(t, ns, "c")
	pub := dial(t, a, "room.1", "pub")
	subs := []*tclient{dial(t, a, "room.1", "onA"), dial(t, b, "room.1", "onB"), dial(t, c, "room.1", "onC")}
	waitFor(t, 5*time.Second, "all four counted on every node", func() bool {
		return a.count("room.1") == 4 && b.count("room.1") == 4 && c.count("room.1") == 4
	})
	drainPresence(subs...)
	drainPresence(pub)
	for i := range 3 {
		img := noisePNG(t, 2000+i*500, uint64(i))
		pub.sendFrame(img)
		for _, s := range subs {
			ev := s.expectFrame("pub", img)
			if got, want := num(ev, "seq"), i+1; got != want {
				t.Errorf("%s: got seq %d, want %d", s.name, got, want)
			}
		}
	}
	for _, s := range append(subs, pub) {
		s.expectNothing(300 * time.Millisecond)
	}
}

// drainPresence drops the presence events already queued for each client.
func drainPresence(cs ...*tclient) {
	for _, c := range cs {
		for {
			select {
			case m := <-c.msgs:
				if m.typ != "presence" {
					c.t.Fatalf("client %s: got %s while draining presence", c.name, describe(m))
				}
				continue
			case <-time.After(100 * time.Millisecond):
			}
			break
		}
	}
}

func TestChatAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b, c := startNode(t, ns, "a"), startNode(t, ns, "b"), startNode(t, ns, "c")
	x, y, z := dial(t, a, "chat", "x"), dial(t, b, "chat", "y"), dial(t, c, "chat", "z")
	waitFor(t, 5*time.Second, "three counted on every node", func() bool {
		return a.count("chat") == 3 && b.count("chat") == 3 && c.count("chat") == 3
	})
	drainPresence(x, y, z)
	tests := []struct {
		from *tclient
		text string
	}{
		{x, "hello from a"},
		{y, "héllo from b ✓"},
		{z, `{"type":"chat","text":"json from c"}`},
	}
	for _, tt := range tests {
		t.Run(tt.from.name, func(t *testing.T) {
			tt.from.sendChat(tt.text)
			want := tt.text
			if tt.from == z {
				want = "json from c"
			}
			for _, r := range []*tclient{x, y, z} {
				if r == tt.from {
					continue
				}
				ev := r.expect("chat").ev
				if str(ev, "text") != want || str(ev, "client") != tt.from.name || str(ev, "name") != tt.from.name {
					t.Errorf("%s: got chat %q from %q, want %q from %q", r.name, str(ev, "text"), str(ev, "client"), want, tt.from.name)
				}
			}
			tt.from.expectNothing(200 * time.Millisecond)
		})
	}
	for _, r := range []*tclient{x, y, z} {
		r.expectNothing(200 * time.Millisecond)
	}
}

// TestPresenceAcrossNodes: hello and presence counts are room-wide, and
// joins and leaves reach members on every node.
func TestPresenceAcrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b, c := startNode(t, ns, "a"), startNode(t, ns, "b"), startNode(t, ns, "c")
	x := dial(t, a, "p", "x")
	if got := num(x.hello, "count"); got != 1 {
		t.Fatalf("x: got hello count %d, want 1", got)
	}
	y := dial(t, b, "p", "y")
	if got := num(y.hello, "count"); got != 2 {
		t.Fatalf("y: got hello count %d, want 2", got)
	}
	x.expectPresence("join", "y", 2)
	z := dial(t, c, "p", "z")
	if got := num(z.hello, "count"); got != 3 {
		t.Fatalf("z: got hello count %d, want 3", got)
	}
	x.expectPresence("join", "z", 3)
	y.expectPresence("join", "z", 3)
	x2 := dial(t, a, "p", "x2")
	if got := num(x2.hello, "count"); got != 4 {
		t.Fatalf("x2: got hello count %d, want 4", got)
	}
	x.expectPresence("join", "x2", 4)
	y.expectPresence("join", "x2", 4)
	z.expectPresence("join", "x2", 4)

	y.close()
	x.expectPresence("leave", "y", 3)
	x2.expectPresence("leave", "y", 3)
	z.expectPresence("leave", "y", 3)
	x2.close()
	x.expectPresence("leave", "x2", 2)
	z.expectPresence("leave", "x2", 2)
	waitFor(t, 2*time.Second, "every node counts 2", func() bool {
		return a.count("p") == 2 && b.count("p") == 2 && c.count("p") == 2
	})
	x.expectNothing(200 * time.Millisecond)
	z.expectNothing(200 * time.Millisecond)
}

// TestKilledNodeDropsOut: a node whose broker stops without goodbye drops
// out of the count on the other nodes within the presence TTL, and its
// members' leaves reach the members elsewhere.
func TestKilledNodeDropsOut(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	ttl := a.b.cfg.PresenceTTL
	x := dial(t, a, "k", "x")
	dial(t, b, "k", "y1")
	dial(t, b, "k", "y2")
	x.expectPresence("join", "y1", 2)
	x.expectPresence("join", "y2", 3)

	killed := time.Now()
	b.b.shutdown(false) // no goodbye: the keys stay until they expire
	gone := map[string]bool{}
	for len(gone) < 2 {
		ev := x.expect("presence").ev
		if str(ev, "event") != "leave" {
			t.Fatalf("x: got presence %v, want leaves", ev)
		}
		gone[str(ev, "client")] = true
		if want := 3 - len(gone); num(ev, "count") != want {
			t.Errorf("x: got count %d after %d leaves, want %d", num(ev, "count"), len(gone), want)
		}
	}
	took := time.Since(killed)
	t.Logf("killed node dropped out after %s (TTL %s)", took.Round(time.Millisecond), ttl)
	if took > ttl+200*time.Millisecond {
		t.Errorf("got the leaves after %s, want within the TTL %s", took, ttl)
	}
	if !gone["y1"] || !gone["y2"] {
		t.Errorf("got leaves of %v, want y1 and y2", gone)
	}
	if got := a.count("k"); got != 1 {
		t.Errorf("node a: got count %d, want 1", got)
	}
	w := dial(t, a, "k", "w")
	if got := num(w.hello, "count"); got != 2 {
		t.Errorf("w: got hello count %d, want 2", got)
	}
}

// TestLateJoinerGetsLayersFromAllNodes: a member that joins on C gets the
// newest frame of each publisher on A and B.
func TestLateJoinerGetsLayersFromAllNodes(t *testing.T) {
	ns := startNATS(t, 0)
	a, b, c := startNode(t, ns, "a"), startNode(t, ns, "b"), startNode(t, ns, "c")
	pa := dial(t, a, "board", "pa")
	old := noisePNG(t, 1500, 1)
	imgA, imgB := noisePNG(t, 2500, 2), noisePNG(t, 3500, 3)
	pa.sendFrame(old)
	pa.sendFrame(imgA) // replaces old as pa's layer
	pa.close()         // a layer outlives its publisher
	pb := dial(t, b, "board", "pb")
	pb.expectFrame("pa", imgA)
	pb.sendFrame(imgB)
	// Node c has seen pa leave: a late joiner there gets no stale presence.
	waitFor(t, 10*time.Second, "node c counts pb alone", func() bool { return c.count("board") == 1 })

	late := dial(t, c, "board", "late")
	late.expectFrame("pa", imgA)
	late.expectFrame("pb", imgB)
	late.expectNothing(300 * time.Millisecond)

	// The same client id on another node gets its own layer back.
	again := dial(t, b, "board", "pa")
	again.expectFrame("pa", imgA)
	again.expectFrame("pb", imgB)
}

// TestLayersKeepTheNewestMaxLayers: Layers returns at most MaxLayers, the
// most recently updated, oldest first.
func TestLayersKeepTheNewestMaxLayers(t *testing.T) {
	ns := startNATS(t, 0)
	small := func(c *Config) { c.MaxLayers = 2 }
	a := startNode(t, ns, "a", small)
	imgs := make([][]byte, 3)
	for i := range imgs {
		p := dial(t, a, "few", "p"+string(rune('0'+i)))
		for j := max(0, i-2); j < i; j++ {
			p.expectFrame("p"+string(rune('0'+j)), imgs[j])
		}
		imgs[i] = noisePNG(t, 1000+100*i, uint64(10+i))
		p.sendFrame(imgs[i])
		p.close()
		waitFor(t, 5*time.Second, "the room empty again", func() bool { return a.count("few") == 0 })
	}
	late := dial(t, a, "few", "late")
	late.expectFrame("p1", imgs[1])
	late.expectFrame("p2", imgs[2])
	late.expectNothing(300 * time.Millisecond)
	// The oldest layer was purged from the stream: the room is back within
	// its bound, and the next joiner reads two frames only.
	heads, err := a.b.readMsgs(context.Background(), jetstream.ConsumerConfig{
		FilterSubject: layerFilter("few"), DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, HeadersOnly: true,
	})
	if err != nil || len(heads) != 2 {
		t.Errorf("got %d layers in the stream (%v), want 2", len(heads), err)
	}
	again := dial(t, a, "few", "again")
	again.expectFrame("p1", imgs[1])
	again.expectFrame("p2", imgs[2])
}

// TestClearLayers: after ClearLayers a late joiner gets no layer of the room,
// and other rooms keep theirs.
func TestClearLayers(t *testing.T) {
	ns := startNATS(t, 0)
	a, b := startNode(t, ns, "a"), startNode(t, ns, "b")
	img := noisePNG(t, 1200, 21)
	p := dial(t, a, "turn", "p")
	p.sendFrame(img)
	q := dial(t, a, "other", "q")
	q.sendFrame(img)
	if err := a.b.ClearLayers(context.Background(), "turn"); err != nil {
		t.Fatalf("ClearLayers: %v", err)
	}
	dial(t, b, "turn", "late").expectNothing(300 * time.Millisecond)
	dial(t, b, "other", "late").expectFrame("q", img)
}

// TestEnvelopeFieldsCrossNodes: an addressed, private game envelope crosses
// brokers whole, and reaches the publishing node's own subscription once,
// through NATS.
func TestEnvelopeFieldsCrossNodes(t *testing.T) {
	ns := startNATS(t, 0)
	ctx := context.Background()
	brokers := make([]*Broker, 2)
	got := make([]chan *relay.Envelope, 2)
	for i := range brokers {
		b, err := New(ctx, testConfig(ns.url(), "n"+strconv.Itoa(i)))
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		brokers[i] = b
		got[i] = make(chan *relay.Envelope, 8)
		ch := got[i]
		sub, err := b.Subscribe("g", func(env *relay.Envelope) { ch <- env })
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		t.Cleanup(func() { _ = sub.Close() })
	}
	if err := brokers[0].nc.Flush(); err != nil { // the subscriptions are in place
		t.Fatal(err)
	}
	if err := brokers[1].nc.Flush(); err != nil {
		t.Fatal(err)
	}
	sent := &relay.Envelope{
		ID: "n0-1", Kind: relay.KindGame, Room: "g", Origin: "n0-c1", Client: "drawer", TS: 123,
		Event: []byte(`{"type":"game","event":"turn"}`), To: []string{"drawer", "x"},
		PrivateFor: "drawer", Private: []byte(`{"type":"game","event":"turn","word":"cat"}`),
	}
	if err := brokers[0].Publish(ctx, sent); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for i, ch := range got {
		select {
		case env := <-ch:
			if env.ID != sent.ID || env.Kind != sent.Kind || env.Origin != sent.Origin || env.PrivateFor != sent.PrivateFor ||
				string(env.Private) != string(sent.Private) || string(env.Event) != string(sent.Event) || len(env.To) != 2 || env.To[1] != "x" {
				t.Errorf("node %d: got %+v, want %+v", i, env, sent)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("node %d: nothing within 5s", i)
		}
		select {
		case env := <-ch:
			t.Errorf("node %d: got a second copy %+v, want one", i, env)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
