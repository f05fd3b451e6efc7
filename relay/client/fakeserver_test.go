package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lxzan/gws"
)

// fakeRelay is a tiny contract server for client unit tests: hello, ack or
// error per binary frame (a frame is "valid" when it starts with the PNG
// magic), fan-out of frames and chat to the other members. Knobs let tests
// make it silent, refuse handshakes or drop connections.
type fakeRelay struct {
	t   *testing.T
	srv *httptest.Server
	up  *gws.Upgrader

	silent   atomic.Bool  // do not answer binary frames
	mute     atomic.Bool  // do not answer pings
	status   atomic.Int32 // answer the handshake with this HTTP status when non-zero
	token    string       // required bearer token when non-empty
	maxBytes int

	mu      sync.Mutex
	members map[*gws.Conn]*fakeMember
	joined  []http.Header // handshake headers seen
	queries []string      // raw queries seen
	closes  []uint16      // close codes received from clients
	nextID  int
}

type fakeMember struct {
	id, client, name string
	seq              atomic.Int64
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

func newFakeRelay(t *testing.T) *fakeRelay {
	t.Helper()
	f := &fakeRelay{t: t, members: map[*gws.Conn]*fakeMember{}, maxBytes: 1 << 20}
	f.up = gws.NewUpgrader(f, &gws.ServerOption{SubProtocols: []string{Subprotocol}})
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/{room}", f.serveWS)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.close)
	return f
}

// url returns the page URL of a room on this server (http://…/r/room).
func (f *fakeRelay) url(room string) string { return f.srv.URL + "/r/" + room }

func (f *fakeRelay) close() {
	f.dropAll()
	f.srv.Close()
}

// dropAll cuts every connection without a close frame.
func (f *fakeRelay) dropAll() {
	f.mu.Lock()
	var socks []*gws.Conn
	for s := range f.members {
		socks = append(socks, s)
	}
	f.mu.Unlock()
	for _, s := range socks {
		_ = s.NetConn().Close()
	}
}

func (f *fakeRelay) serveWS(w http.ResponseWriter, r *http.Request) {
	if st := f.status.Load(); st != 0 {
		http.Error(w, "refused", int(st))
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	f.joined = append(f.joined, r.Header.Clone())
	f.queries = append(f.queries, r.URL.RawQuery)
	f.nextID++
	m := &fakeMember{id: fmt.Sprint(f.nextID), client: r.URL.Query().Get("client"), name: r.URL.Query().Get("name")}
	if m.client == "" {
		m.client = "made-" + m.id
	}
	f.mu.Unlock()
	sock, err := f.up.Upgrade(w, r)
	if err != nil {
		return
	}
	sock.Session().Store("m", m)
	go sock.ReadLoop()
}

func (f *fakeRelay) member(s *gws.Conn) *fakeMember {
	v, _ := s.Session().Load("m")
	return v.(*fakeMember)
}

func (f *fakeRelay) others(s *gws.Conn) []*gws.Conn {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*gws.Conn
	for o := range f.members {
		if o != s {
			out = append(out, o)
		}
	}
	return out
}

func (f *fakeRelay) sendJSON(s *gws.Conn, v any) {
	b, _ := json.Marshal(v)
	_ = s.WriteMessage(gws.OpcodeText, b)
}

func (f *fakeRelay) OnOpen(s *gws.Conn) {
	m := f.member(s)
	f.mu.Lock()
	f.members[s] = m
	n := len(f.members)
	f.mu.Unlock()
	f.sendJSON(s, map[string]any{"type": "hello", "id": m.id, "client": m.client, "room": "r",
		"count": n, "max_bytes": f.maxBytes, "max_pixels": 1 << 24, "formats": []string{"png"}})
	for _, o := range f.others(s) {
		f.sendJSON(o, map[string]any{"type": "presence", "count": n, "event": "join", "client": m.client, "name": m.name})
	}
}

func (f *fakeRelay) OnClose(s *gws.Conn, err error) {
	f.mu.Lock()
	delete(f.members, s)
	if ce, ok := err.(*gws.CloseError); ok {
		f.closes = append(f.closes, ce.Code)
	}
	f.mu.Unlock()
}

func (f *fakeRelay) closeCodes() []uint16 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint16(nil), f.closes...)
}

func (f *fakeRelay) OnPing(s *gws.Conn, p []byte) {
	if !f.mute.Load() {
		_ = s.WritePong(p)
	}
}

func (f *fakeRelay) OnPong(*gws.Conn, []byte) {}

func (f *fakeRelay) OnMessage(s *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	m := f.member(s)
	if msg.Opcode == gws.OpcodeText {
		var cmd struct{ Type, Text string }
		if json.Unmarshal(msg.Bytes(), &cmd) != nil || cmd.Type != "chat" {
			f.sendJSON(s, map[string]any{"type": "error", "code": "bad_request", "message": "unknown command"})
			return
		}
		for _, o := range f.others(s) {
			f.sendJSON(o, map[string]any{"type": "chat", "client": m.client, "name": m.name, "text": cmd.Text, "ts": 1})
		}
		return
	}
	seq := m.seq.Add(1)
	if f.silent.Load() {
		return
	}
	data := msg.Bytes()
	if !bytes.HasPrefix(data, pngMagic) {
		f.sendJSON(s, map[string]any{"type": "error", "code": "invalid_image", "message": "not an image", "seq": seq})
		return
	}
	f.sendJSON(s, map[string]any{"type": "ack", "seq": seq, "format": "png", "width": 1, "height": 1, "bytes": len(data)})
	for _, o := range f.others(s) {
		f.sendJSON(o, map[string]any{"type": "frame", "client": m.client, "name": m.name, "seq": seq,
			"format": "png", "width": 1, "height": 1, "bytes": len(data), "ts": 1})
		_ = o.WriteMessage(gws.OpcodeBinary, data)
	}
}

// fakePNG returns bytes that the fake relay accepts, distinct for each n.
func fakePNG(n int) []byte {
	return append(append([]byte(nil), pngMagic...), []byte(strings.Repeat(fmt.Sprintf("frame-%d;", n), n%7+1))...)
}
