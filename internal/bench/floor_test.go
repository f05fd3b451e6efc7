package bench

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
	"github.com/lxzan/gws"
)

// floorMsg is one message a floor client received.
type floorMsg struct {
	op   gws.Opcode
	data []byte
}

// floorClient collects what a floor sends it.
type floorClient struct {
	gws.BuiltinEventHandler
	msgs chan floorMsg
}

func (c *floorClient) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	c.msgs <- floorMsg{op: m.Opcode, data: append([]byte(nil), m.Bytes()...)}
}

func (c *floorClient) next(t *testing.T, what string) floorMsg {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10 s", what)
		return floorMsg{}
	}
}

func dialFloor(t *testing.T, base, client string) (*gws.Conn, *floorClient) {
	t.Helper()
	u, err := url.Parse(base + "/ws/room?client=" + url.QueryEscape(client))
	if err != nil {
		t.Fatal(err)
	}
	h := &floorClient{msgs: make(chan floorMsg, 16)}
	ws, err := dialGws(context.Background(), u, h, client)
	if err != nil {
		t.Fatal(err)
	}
	go ws.ReadLoop()
	t.Cleanup(func() { _ = ws.NetConn().Close() })
	if m := h.next(t, "hello"); m.op != gws.OpcodeText || !json.Valid(m.data) {
		t.Fatalf("%s: first message %v %.80q, want the hello", client, m.op, m.data)
	}
	return ws, h
}

// TestFloorFrameEvents: with Events the floor sends each other member a
// frame event (type, client, seq, bytes) and then the image; without, the
// image alone. The sender gets its ack either way.
func TestFloorFrameEvents(t *testing.T) {
	for _, events := range []bool{false, true} {
		f := NewFloor(FloorConfig{MaxBytes: 1 << 20, Events: events, Logger: testLogger(t)})
		if err := f.Start("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		_, sub := dialFloor(t, f.URL(), "viewer")
		pub, ack := dialFloor(t, f.URL(), "pub \"1\"") // quoted in the event
		img := make([]byte, 70000)
		for seq := 1; seq <= 2; seq++ {
			if err := pub.WriteMessage(gws.OpcodeBinary, img); err != nil {
				t.Fatal(err)
			}
			if m := ack.next(t, "ack"); m.op != gws.OpcodeText || string(m.data) != `{"type":"ack","seq":`+strconv.Itoa(seq)+`}` {
				t.Fatalf("events %v: sender got %v %.80q, want ack %d", events, m.op, m.data, seq)
			}
			m := sub.next(t, "frame")
			if events {
				var ev struct {
					Type   string `json:"type"`
					Client string `json:"client"`
					Seq    int64  `json:"seq"`
					Bytes  int    `json:"bytes"`
					TS     int64  `json:"ts"`
				}
				if m.op != gws.OpcodeText || json.Unmarshal(m.data, &ev) != nil {
					t.Fatalf("frame %d: got %v %.80q (%d bytes), want a frame event", seq, m.op, m.data, len(m.data))
				}
				if ev.Type != wire.TypeFrame || ev.Client != `pub "1"` || ev.Seq != int64(seq) || ev.Bytes != len(img) || ev.TS <= 0 {
					t.Fatalf("frame %d: event %+v, want frame from %q, seq %d, %d bytes, a ts", seq, ev, `pub "1"`, seq, len(img))
				}
				m = sub.next(t, "image")
			}
			if m.op != gws.OpcodeBinary || len(m.data) != len(img) {
				t.Fatalf("events %v, frame %d: got %v of %d bytes, want the image (%d)", events, seq, m.op, len(m.data), len(img))
			}
		}
	}
}
