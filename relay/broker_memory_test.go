package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// frameEnv is a KindFrame envelope whose size() is exactly size bytes.
func frameEnv(room, client string, size int, ts int64) *Envelope {
	return &Envelope{Kind: KindFrame, Room: room, Client: client, Image: make([]byte, size-14), TS: ts}
}

// layerClients lists room's layers as "client" words, oldest first.
func layerClients(t *testing.T, b *MemoryBroker, room string) string {
	t.Helper()
	envs, err := b.Layers(context.Background(), room)
	if err != nil {
		t.Fatalf("Layers(%s): %v", room, err)
	}
	var cs []string
	for _, e := range envs {
		cs = append(cs, e.Client)
	}
	return strings.Join(cs, " ")
}

// checkAccounting recomputes the totals from the rooms and compares them
// with the broker's own counts. No Publish may be in flight.
func checkAccounting(t *testing.T, b *MemoryBroker) (total int64, layers int) {
	t.Helper()
	rooms := 0
	b.rooms.Range(func(_, v any) bool {
		r := v.(*memRoom)
		r.mu.Lock()
		defer r.mu.Unlock()
		rooms++
		var rb int64
		for c, l := range r.layers {
			var logBytes int64
			for _, e := range l.log.entries {
				logBytes += int64(e.size())
			}
			if l.client != c || l.size != logBytes || l.size != l.log.Bytes() || l.el == nil {
				t.Errorf("room %s: layer %s is inconsistent", r.name, c)
			}
			rb += l.size
		}
		if rb != r.bytes {
			t.Errorf("room %s: counts %d bytes, holds %d", r.name, r.bytes, rb)
		}
		if rb > b.cfg.MaxRoomBytes || len(r.layers) > b.cfg.MaxLayers {
			t.Errorf("room %s: %d layers of %d bytes, over its caps (%d layers, %d bytes)", r.name, len(r.layers), rb, b.cfg.MaxLayers, b.cfg.MaxRoomBytes)
		}
		total += rb
		layers += len(r.layers)
		return true
	})
	listed := 0
	for i := range b.budget.shards {
		sh := &b.budget.shards[i]
		sh.mu.Lock()
		listed += sh.lru.Len()
		var last uint64
		for e := sh.lru.Front(); e != nil; e = e.Next() {
			if s := e.Value.(*memLayer).stamp; s <= last {
				t.Errorf("shard %d: stamp %d after %d, want increasing", i, s, last)
			} else {
				last = s
			}
		}
		sh.mu.Unlock()
	}
	if got := b.budget.bytes.Load(); got != total || listed != layers {
		t.Errorf("budget counts %d bytes in %d layers, rooms hold %d in %d", got, listed, total, layers)
	}
	if total > b.cfg.MaxRetainedBytes {
		t.Errorf("rooms hold %d bytes, over MaxRetainedBytes %d", total, b.cfg.MaxRetainedBytes)
	}
	if n := b.nRooms.Load(); n != int64(rooms) {
		t.Errorf("nRooms is %d, the map holds %d", n, rooms)
	}
	return total, layers
}

// The global cap drops the least recently updated layer of all rooms, an
// update counts as recent, and a room's own caps drop its own oldest.
func TestMemoryBrokerCapsDropTheLeastRecentlyUpdated(t *testing.T) {
	ctx := context.Background()
	const kb = 1000
	b := NewMemoryBroker(MemoryBrokerConfig{MaxRetainedBytes: 4 * kb, MaxRoomBytes: 2 * kb, MaxLayers: 3})
	pub := func(room, client string, size int, ts int64) {
		t.Helper()
		if err := b.Publish(ctx, frameEnv(room, client, size, ts)); err != nil {
			t.Fatal(err)
		}
	}
	pub("a", "a1", kb, 1)
	pub("b", "b1", kb, 2)
	pub("c", "c1", kb, 3)
	pub("a", "a1", kb, 4) // a1 is now the newest
	pub("d", "d1", kb, 5) // 4 kB: fits
	pub("e", "e1", kb, 6) // 5 kB: b1, the least recently updated, goes
	for room, want := range map[string]string{"a": "a1", "b": "", "c": "c1", "d": "d1", "e": "e1"} {
		if got := layerClients(t, b, room); got != want {
			t.Errorf("room %s: got layers %q, want %q", room, got, want)
		}
	}
	if holds, _ := b.ClientHolds(ctx, "b", "b1"); holds {
		t.Error("b1 still holds its evicted layer")
	}
	if _, ok := b.rooms.Load("b"); ok {
		t.Error("room b, with nothing left, is still in the map")
	}
	checkAccounting(t, b)

	// The room cap (2 kB): a's oldest other layer goes, never the one just
	// published.
	pub("a", "a2", kb/2, 7)
	pub("a", "a3", kb, 8) // a holds 2.5 kB: a1 (ts 4) goes
	if got, want := layerClients(t, b, "a"), "a2 a3"; got != want {
		t.Errorf("room a: got layers %q, want %q", got, want)
	}
	// MaxLayers (3): the oldest of the room goes.
	pub("f", "f1", 100, 9)
	pub("f", "f2", 100, 10)
	pub("f", "f3", 100, 11)
	pub("f", "f1", 100, 12) // an update: still three
	pub("f", "f4", 100, 13) // a fourth: f2 goes
	if got, want := layerClients(t, b, "f"), "f3 f1 f4"; got != want {
		t.Errorf("room f: got layers %q, want %q", got, want)
	}
	// A frame bigger than the room cap is not kept, and leaves no room.
	pub("g", "g1", 3*kb, 14)
	if got := layerClients(t, b, "g"); got != "" {
		t.Errorf("room g: got layers %q, want none", got)
	}
	if _, ok := b.rooms.Load("g"); ok {
		t.Error("room g, with nothing kept, is in the map")
	}
	checkAccounting(t, b)
}

// Many publishers in many rooms at once, with subscribers coming and
// going, layers cleared and members joining: under -race, the caps hold at
// every moment a room is at rest, and after it all the counts match the
// rooms exactly and the total is within MaxRetainedBytes.
func TestMemoryBrokerCapsHoldUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	cfg := MemoryBrokerConfig{MaxRetainedBytes: 64 << 10, MaxRoomBytes: 24 << 10, MaxLayers: 4}
	b := NewMemoryBroker(cfg)
	const workers, rounds, rooms = 8, 400, 6
	var delivered atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range rounds {
				room := fmt.Sprintf("r%d", rng.IntN(rooms))
				client := fmt.Sprintf("c%d", rng.IntN(6))
				switch rng.IntN(10) {
				case 0:
					s, err := b.Subscribe(room, func(*Envelope) { delivered.Add(1) })
					if err != nil {
						t.Error(err)
						return
					}
					defer s.Close()
				case 1:
					_ = b.ClearLayers(ctx, room)
				case 2:
					m := Member{Conn: fmt.Sprintf("w%d-%d", w, i), Client: client}
					_, _ = b.Join(ctx, room, m)
					_, _ = b.Leave(ctx, room, m)
				default:
					size := 14 + rng.IntN(12<<10)
					if err := b.Publish(ctx, frameEnv(room, client, size, int64(w*rounds+i))); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	// A reader: each room's layers are within its caps whenever it is read.
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := range rooms {
				envs, _ := b.Layers(ctx, fmt.Sprintf("r%d", i))
				var n int64
				for _, e := range envs {
					n += int64(e.size())
				}
				if n > cfg.MaxRoomBytes || len(envs) > cfg.MaxLayers {
					t.Errorf("room r%d read with %d layers of %d bytes, over its caps", i, len(envs), n)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	total, layers := checkAccounting(t, b)
	t.Logf("%d layers of %d bytes kept; %d deliveries", layers, total, delivered.Load())
	if layers == 0 {
		t.Error("no layer kept at all")
	}
	// Everything released: every room is forgotten once cleared.
	for i := range rooms {
		_ = b.ClearLayers(ctx, fmt.Sprintf("r%d", i))
	}
	checkAccounting(t, b)
	if n := b.nRooms.Load(); n != 0 {
		t.Errorf("%d rooms left with nothing in them", n)
	}
}

// Empty rooms keep their layers for RetainEmptyFor only, and at most
// MaxRetainedRooms of them are kept: a Join sweeps the oldest.
func TestMemoryBrokerSweepsEmptyRooms(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBroker(MemoryBrokerConfig{MaxRetainedRooms: 3})
	for i := range 6 {
		room := fmt.Sprintf("r%d", i)
		m := Member{Conn: room, Client: "c"}
		if _, err := b.Join(ctx, room, m); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(ctx, frameEnv(room, "c", 100, int64(i))); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Leave(ctx, room, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Join(ctx, "new", Member{Conn: "n", Client: "n"}); err != nil { // 6 rooms > 3: the oldest three go
		t.Fatal(err)
	}
	var kept []string
	b.rooms.Range(func(k, _ any) bool { kept = append(kept, k.(string)); return true })
	sort.Strings(kept)
	if got, want := strings.Join(kept, " "), "new r3 r4 r5"; got != want {
		t.Errorf("rooms kept: got %q, want %q", got, want)
	}
	checkAccounting(t, b)

	// Past RetainEmptyFor, the next sweep drops them all.
	b = NewMemoryBroker(MemoryBrokerConfig{RetainEmptyFor: time.Millisecond})
	m := Member{Conn: "x", Client: "c"}
	_, _ = b.Join(ctx, "old", m)
	_ = b.Publish(ctx, frameEnv("old", "c", 100, 1))
	_, _ = b.Leave(ctx, "old", m)
	b.lastSweep.Store(0)
	time.Sleep(5 * time.Millisecond) // a wall-clock expiry, not synchronisation
	_, _ = b.Join(ctx, "other", Member{Conn: "y", Client: "d"})
	if got := layerClients(t, b, "old"); got != "" {
		t.Errorf("expired room: got layers %q, want none", got)
	}
	checkAccounting(t, b)
}

// Rooms come and go without leaving entries behind, and a subscription
// made while its room is being dropped still gets deliveries.
func TestMemoryBrokerRoomsAreForgotten(t *testing.T) {
	ctx := context.Background()
	b := NewMemoryBroker(MemoryBrokerConfig{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				room := fmt.Sprintf("r%d", i%3)
				var got atomic.Int32
				s, err := b.Subscribe(room, func(e *Envelope) {
					if e.Origin == fmt.Sprint(w) {
						got.Add(1)
					}
				})
				if err != nil {
					t.Error(err)
					return
				}
				_ = b.Publish(ctx, &Envelope{Kind: KindChat, Room: room, Origin: fmt.Sprint(w)})
				_ = s.Close()
				if got.Load() != 1 {
					t.Errorf("worker %d: a subscription got %d of its own chat, want 1", w, got.Load())
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := b.nRooms.Load(); n != 0 {
		t.Errorf("%d rooms left with nothing in them", n)
	}
	checkAccounting(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, &Envelope{Kind: KindChat, Room: "r"}); err != ErrBrokerClosed {
		t.Errorf("Publish after Close: got %v, want ErrBrokerClosed", err)
	}
}

// The global order holds across shards: with more rooms than shards (so
// some share one) and updates in a shuffled order, the layers evicted are
// exactly the least recently updated ones.
func TestMemoryBrokerEvictsInOrderAcrossShards(t *testing.T) {
	ctx := context.Background()
	const rooms, keep, size = budgetShards + 36, budgetShards, 1000
	b := NewMemoryBroker(MemoryBrokerConfig{MaxRetainedBytes: keep * size, MaxRoomBytes: size})
	order := rand.New(rand.NewPCG(7, 7)).Perm(rooms)
	for i, n := range order { // each room once, in a shuffled order
		if err := b.Publish(ctx, frameEnv(fmt.Sprintf("r%d", n), "c", size, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range order {
		got := layerClients(t, b, fmt.Sprintf("r%d", n))
		if want := i >= rooms-keep; (got == "c") != want {
			t.Errorf("room r%d, updated %dth: kept %v, want %v", n, i+1, got == "c", want)
		}
	}
	checkAccounting(t, b)
}
