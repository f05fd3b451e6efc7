package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
	"github.com/lxzan/gws"
)

// ViewerBytes is what one viewer received in a run: the WebSocket payload
// bytes of its frame events and of the binary frames after them. Other
// text (hello, presence) is not counted.
type ViewerBytes struct {
	Patches      bool    `json:"patches"` // connected with patches=1
	Frames       int     `json:"frames"`  // binary frames
	PatchFrames  int     `json:"patch_frames"`
	BinaryBytes  int64   `json:"binary_bytes"`
	EventBytes   int64   `json:"event_bytes"` // frame events
	Bytes        int64   `json:"bytes"`       // BinaryBytes + EventBytes
	LastSeq      int64   `json:"last_seq"`
	Formats      string  `json:"formats"`  // the formats of the frames received, in order of first use
	GotLast      bool    `json:"got_last"` // received the sender's last frame (seq) before the run ended
	ReceiveSecs  float64 `json:"receive_seconds"`
	Disconnected bool    `json:"disconnected,omitempty"`
}

// countingViewer is a subscriber on bare gws that counts what the relay
// sends it; it answers pings and reads nothing else of the contract.
type countingViewer struct {
	gws.BuiltinEventHandler
	ws    *gws.Conn
	hello chan struct{}
	ended chan struct{}
	once  sync.Once

	mu         sync.Mutex // guards the counters below
	res        ViewerBytes
	gotHello   bool
	first      time.Time
	last       time.Time
	wantSeq    int64
	seqReached chan struct{} // closed once LastSeq >= wantSeq (when wantSeq > 0)
}

// dialCountingViewer joins room on the relay at base (ws://host:port) as
// client id, with patches=1 when patches.
func dialCountingViewer(ctx context.Context, base, room, id string, patches bool) (*countingViewer, error) {
	u, err := url.Parse(base + "/ws/" + url.PathEscape(room))
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set(wire.QueryClient, id)
	if patches {
		q.Set(wire.QueryPatches, "1")
	}
	u.RawQuery = q.Encode()
	v := &countingViewer{hello: make(chan struct{}), ended: make(chan struct{})}
	v.res.Patches = patches
	ws, err := dialGws(ctx, u, v, "viewer")
	if err != nil {
		return nil, err
	}
	v.ws = ws
	go ws.ReadLoop()
	select {
	case <-v.hello:
		return v, nil
	case <-v.ended:
		return nil, fmt.Errorf("viewer: connection ended before hello")
	case <-ctx.Done():
		v.close()
		return nil, fmt.Errorf("viewer: no hello: %w", ctx.Err())
	}
}

func (v *countingViewer) OnClose(*gws.Conn, error) { close(v.ended) }

func (v *countingViewer) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }

func (v *countingViewer) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	switch m.Opcode {
	case gws.OpcodeText:
		b := m.Bytes()
		if !v.gotHello && bytes.HasPrefix(b, helloEventPrefix) {
			v.gotHello = true
			close(v.hello)
			return
		}
		if !bytes.HasPrefix(b, frameEventPrefix) {
			return
		}
		v.res.EventBytes += int64(len(b))
		if bytes.Contains(b, []byte(`"patch":true`)) {
			v.res.PatchFrames++
		}
		if f := formatOf(b); f != "" && len(v.res.Formats) < 64 && !strings.Contains(" "+v.res.Formats+" ", " "+f+" ") {
			v.res.Formats = strings.TrimSpace(v.res.Formats + " " + f)
		}
		if s := seqOf(b); s > v.res.LastSeq {
			v.res.LastSeq = s
		}
	case gws.OpcodeBinary:
		if v.first.IsZero() {
			v.first = now
		}
		v.last = now
		v.res.Frames++
		v.res.BinaryBytes += int64(m.Data.Len())
		if v.seqReached != nil && v.res.LastSeq >= v.wantSeq {
			close(v.seqReached)
			v.seqReached = nil
		}
	}
}

// waitSeq waits (at most timeout) for the binary frame of the sender's
// frame seq, and reports whether it came.
func (v *countingViewer) waitSeq(seq int64, timeout time.Duration) bool {
	v.mu.Lock()
	if v.res.LastSeq >= seq && v.res.Frames > 0 {
		v.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	v.wantSeq, v.seqReached = seq, ch
	v.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-v.ended:
	case <-time.After(timeout):
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seqReached = nil
	return v.res.LastSeq >= seq
}

// result returns the counts so far.
func (v *countingViewer) result() ViewerBytes {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.res
	r.Bytes = r.BinaryBytes + r.EventBytes
	if !v.first.IsZero() {
		r.ReceiveSecs = v.last.Sub(v.first).Seconds()
	}
	select {
	case <-v.ended:
		r.Disconnected = true
	default:
	}
	return r
}

// close sends close 1000 and waits (bounded) for the read loop to end.
func (v *countingViewer) close() {
	v.once.Do(func() {
		_ = v.ws.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
		_ = v.ws.WriteClose(1000, nil)
		select {
		case <-v.ended:
		case <-time.After(closeWait / 2):
			_ = v.ws.NetConn().Close()
			<-v.ended
		}
	})
}

// formatOf finds the string after "format": in a frame event without
// decoding it.
func formatOf(b []byte) string {
	i := bytes.Index(b, []byte(`"format":"`))
	if i < 0 {
		return ""
	}
	b = b[i+10:]
	j := bytes.IndexByte(b, '"')
	if j < 0 || j > 16 {
		return ""
	}
	return string(b[:j])
}
