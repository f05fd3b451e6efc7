package relay

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"github.com/lxzan/gws"
)

// paddedPNG is a valid 64×48 PNG grown to n bytes by a private chunk of
// fill bytes: one image of n bytes that passes the structural check.
func paddedPNG(t testing.TB, n int, fill byte) []byte {
	t.Helper()
	img, err := testimg.PadPNG(readTestdata(t, "canvas-opaque-64x48.png"), n, fill)
	if err != nil {
		t.Fatalf("paddedPNG: %v", err)
	}
	return img
}

// publishLayers makes n clients each publish one image of size bytes in
// room, and waits for each ack.
func publishLayers(t *testing.T, url, room, prefix string, n, size int) [][]byte {
	t.Helper()
	imgs := make([][]byte, n)
	for i := range n {
		imgs[i] = paddedPNG(t, size, byte('a'+i))
		p := dial(t, url, room, dialOpt{query: fmt.Sprintf("client=%s%d", prefix, i)})
		p.expect(TypeHello)
		p.sendBinary(imgs[i])
		for {
			m := p.next(30 * time.Second)
			if m.op == gws.OpcodeText && m.typ == TypeAck {
				break
			}
			if m.op == gws.OpcodeText && m.typ == TypeError {
				t.Fatalf("publisher %d: got %s, want an ack", i, m.data)
			}
		}
		p.close()
	}
	return imgs
}

// readLayers reads a joiner's hello and then the layers it is sent until
// nothing comes for quiet, and returns them by client id.
func readLayers(t *testing.T, c *tclient, quiet time.Duration) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	wait := 30 * time.Second // for hello; then quiet
	for hello := false; ; hello = true {
		var m tmsg
		select {
		case m = <-c.msgs:
		case <-c.closed:
			t.Fatalf("joiner closed with %d after %d layers, want every layer and an open connection", c.closeCode(time.Second), len(got))
		case <-time.After(wait):
			if !hello {
				t.Fatalf("no hello within %s", wait)
			}
			return got
		}
		wait = quiet
		if !hello && m.typ != TypeHello {
			t.Fatalf("got %s, want hello first", describe(m))
		}
		if m.op != gws.OpcodeText || m.typ != TypeFrame {
			continue // presence of later members
		}
		bin := c.next(30 * time.Second)
		if bin.op != gws.OpcodeBinary {
			t.Fatalf("after a frame event: got %s, want its image", describe(bin))
		}
		got[str(m.ev, "client")] = bin.data
	}
}

// A room holding nine layers of nearly MaxBytes each (more than a
// subscriber's whole frame queue) is sent in full to a late joiner, one
// layer at a time as its writer drains them, and the joiner is not cut off.
func TestLateJoinerToAFullRoomGetsEveryLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 150 MiB through the relay")
	}
	const n = 9
	cfg := Config{}.withDefaults()
	size := cfg.MaxBytes - 1024
	if n*size <= cfg.QueueMaxBytes {
		t.Fatalf("test setup: %d layers of %d bytes fit in the queue cap %d", n, size, cfg.QueueMaxBytes)
	}
	srv, url := startServer(t, Config{})
	imgs := publishLayers(t, url, "big", "p", n, size)

	// The second joiner asks for a rendition that every layer already
	// meets: it is sent the originals, rendered on the worker pool.
	var j *tclient
	for _, query := range []string{"client=rend&max_width=4096", "client=joiner"} {
		j = dial(t, url, "big", dialOpt{query: query})
		got := readLayers(t, j, 2*time.Second)
		if len(got) != n {
			t.Fatalf("%s: got %d layers, want %d", query, len(got), n)
		}
		for i, img := range imgs {
			if !bytes.Equal(got[fmt.Sprintf("p%d", i)], img) {
				t.Errorf("%s: layer p%d: got %d bytes, want the %d published", query, i, len(got[fmt.Sprintf("p%d", i)]), len(img))
			}
		}
	}
	// Still a member: live traffic reaches it.
	q := dial(t, url, "big", dialOpt{query: "client=talker"})
	q.expect(TypeHello)
	q.sendText("still there?")
	if ev := j.expectSkippingFrames(TypeChat); str(ev.ev, "text") != "still there?" {
		t.Fatalf("got chat %q", str(ev.ev, "text"))
	}
	if st := srv.Rooms(); len(st) != 1 || st[0].Members != 3 {
		t.Fatalf("rooms: got %+v, want one room with 3 members", st)
	}
}

// One room cannot take every other room's layers: with a global cap of
// 8 MiB, a busy room keeps at most its own budget (half of it by default),
// and a quiet room's layer survives.
func TestRoomLayersStayWithinTheirBudget(t *testing.T) {
	cfg := Config{MaxBytes: 1 << 20, MaxRetainedBytes: 8 << 20}
	_, url := startServer(t, cfg)
	quiet := publishLayers(t, url, "quiet", "q", 1, 50<<10)
	publishLayers(t, url, "busy", "b", 10, 1<<20-1024)

	got := readLayers(t, dial(t, url, "quiet", dialOpt{query: "client=j1"}), time.Second)
	if !bytes.Equal(got["q0"], quiet[0]) {
		t.Fatalf("quiet room: got layers %v, want its one layer kept", keys(got))
	}
	budget := cfg.withDefaults().RoomRetainedBytes
	got = readLayers(t, dial(t, url, "busy", dialOpt{query: "client=j2"}), time.Second)
	var total int64
	for _, b := range got {
		total += int64(len(b))
	}
	if total > budget || len(got) == 0 {
		t.Fatalf("busy room: got %d layers of %d bytes in all, want some within its budget of %d", len(got), total, budget)
	}
	if !bytesEqualAny(got, "b9") {
		t.Fatalf("busy room: got layers %v, want the newest (b9) kept", keys(got))
	}
}

func keys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func bytesEqualAny(m map[string][]byte, k string) bool { _, ok := m[k]; return ok }
