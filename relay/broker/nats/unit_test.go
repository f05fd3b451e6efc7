package natsbroker

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		env  *relay.Envelope
	}{
		{"chat", &relay.Envelope{ID: "a-1", Kind: relay.KindChat, Origin: "a-7", Client: "c1", TS: 1700000000123, Event: []byte(`{"type":"chat","text":"hé"}`)}},
		{"frame", &relay.Envelope{ID: "b-z", Kind: relay.KindFrame, Origin: "b-2", Client: "pub", TS: 5, Seq: 42, Event: []byte(`{"type":"frame"}`), Image: []byte("\x89PNG\r\n\x1a\nrest")}},
		{"addressed to nobody", &relay.Envelope{ID: "c-1", Kind: relay.KindChat, To: []string{}, Event: []byte(`{}`)}},
		{"addressed", &relay.Envelope{ID: "c-2", Kind: relay.KindChat, To: []string{"x", "y.z"}, Event: []byte(`{}`)}},
		{"private", &relay.Envelope{ID: "c-3", Kind: relay.KindGame, PrivateFor: "drawer", Private: []byte(`{"word":"cat"}`), Event: []byte(`{"type":"game"}`)}},
		{"empty", &relay.Envelope{Kind: relay.KindGame}},
		{"patch", &relay.Envelope{ID: "b-y", Kind: relay.KindFrame, Client: "pub", Seq: 43, Event: []byte(`{"type":"frame","patch":true}`),
			Image: []byte("\x89PNG\r\n\x1a\npatch"), Patch: &relay.PatchRect{X: 1 << 20, Y: 0, Width: 3, Height: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeEnvelope("room.x", encodeEnvelope(tt.env))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.Room != "room.x" {
				t.Errorf("got room %q, want room.x", got.Room)
			}
			want := tt.env
			if got.ID != want.ID || got.Kind != want.Kind || got.Origin != want.Origin || got.Client != want.Client ||
				got.TS != want.TS || got.Seq != want.Seq || got.PrivateFor != want.PrivateFor {
				t.Errorf("got %+v, want %+v", got, want)
			}
			if !bytes.Equal(got.Event, want.Event) || !bytes.Equal(got.Image, want.Image) || !bytes.Equal(got.Private, want.Private) {
				t.Errorf("got event %q image %q private %q, want %q %q %q", got.Event, got.Image, got.Private, want.Event, want.Image, want.Private)
			}
			if (got.Patch == nil) != (want.Patch == nil) || got.Patch != nil && *got.Patch != *want.Patch {
				t.Errorf("got patch %+v, want %+v", got.Patch, want.Patch)
			}
			if (got.To == nil) != (want.To == nil) || !reflect.DeepEqual(append([]string{}, got.To...), append([]string{}, want.To...)) {
				t.Errorf("got To %#v, want %#v", got.To, want.To)
			}
		})
	}
}

func TestDecodeRejectsBadMessages(t *testing.T) {
	good := encodeEnvelope(&relay.Envelope{ID: "a-1", Kind: relay.KindChat, Event: []byte(`{"type":"chat"}`), To: []string{"x"}})
	tests := map[string][]byte{
		"empty":       nil,
		"version":     append([]byte{9}, good[1:]...),
		"kind":        append([]byte{codecVersion, 99}, good[2:]...),
		"truncated":   good[:len(good)-3],
		"huge length": {codecVersion, byte(relay.KindChat), 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge to":     append(good[:len(good)-3:len(good)-3], 0xff, 0xff, 0x0f),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeEnvelope("r", data); !errors.Is(err, ErrBadMessage) {
				t.Errorf("got %v, want ErrBadMessage", err)
			}
		})
	}
}

// A patch is codec version 3 (a node that knows only versions 1 and 2
// drops it rather than take it for a full frame); other envelopes keep
// theirs. A rectangle on anything but a frame is refused.
func TestPatchCodecVersion(t *testing.T) {
	patch := &relay.Envelope{Kind: relay.KindFrame, Image: []byte("x"), Patch: &relay.PatchRect{Width: 1, Height: 1}}
	if v := encodeEnvelope(patch)[0]; v != codecVersion3 {
		t.Errorf("patch: got version %d, want %d", v, codecVersion3)
	}
	if v := encodeEnvelope(&relay.Envelope{Kind: relay.KindFrame, Image: []byte("x")})[0]; v != codecVersion {
		t.Errorf("full frame: got version %d, want %d", v, codecVersion)
	}
	data := encodeEnvelope(patch)
	data[1] = byte(relay.KindChat)
	if _, err := decodeEnvelope("r", data); !errors.Is(err, ErrBadMessage) {
		t.Errorf("a chat with a patch rectangle: got %v, want ErrBadMessage", err)
	}
}

// The Relay-Log header round-trips, and a malformed one is none.
func TestLogMetaHeader(t *testing.T) {
	m := logMeta{idx: 7, width: 1280, height: 720, baseBytes: 123456, patchBytes: 98765, baseTS: 1764740000000, baseID: "node-a-1z"}
	got, ok := parseLogMeta(nats.Header{hdrLog: []string{m.String()}})
	if !ok || got != m {
		t.Fatalf("got %+v (%v), want %+v", got, ok, m)
	}
	for _, bad := range []string{"", "2 0 1 1 1 0 0 x", "1 -1 1 1 1 0 0 x", "1 0 1 1 1 0 0", "1 0 99999999999 1 1 0 0 x", "1 0 a 1 1 0 0 x"} {
		if _, ok := parseLogMeta(nats.Header{hdrLog: []string{bad}}); ok {
			t.Errorf("%q: parsed, want refused", bad)
		}
	}
}

func TestTokens(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain-room_1", "plain-room_1"},
		{"a.b", "a=2Eb"},
		{"..", "=2E=2E"},
		{"x=y*>", "x=3Dy=2A=3E"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := escapeToken(tt.in)
			if got != tt.want {
				t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if strings.ContainsAny(got, ".*> ") {
				t.Errorf("escape(%q) = %q is not one subject token", tt.in, got)
			}
			back, err := unescapeToken(got)
			if err != nil || back != tt.in {
				t.Errorf("unescape(%q) = %q, %v; want %q", got, back, err, tt.in)
			}
		})
	}
	room, node, ok := splitPresenceKey(presenceKey("r.1", "node-a"))
	if !ok || room != "r.1" || node != "node-a" {
		t.Errorf("split(presenceKey(r.1, node-a)) = %q, %q, %v", room, node, ok)
	}
	if got, want := frameSubject("r.1", "c.2"), "relay.v1.room.r=2E1.frame.c=2E2"; got != want {
		t.Errorf("frameSubject = %q, want %q", got, want)
	}
}

func TestDedupeWindow(t *testing.T) {
	d := newDedupe(3)
	steps := []struct {
		id    string
		first bool
	}{
		{"a", true}, {"a", false}, {"b", true}, {"c", true}, {"a", false},
		{"d", true}, // evicts a
		{"a", true}, {"c", false}, {"", true}, {"", true},
	}
	for i, s := range steps {
		if got := d.first(s.id); got != s.first {
			t.Errorf("step %d: first(%q) = %v, want %v", i, s.id, got, s.first)
		}
	}
	if len(d.set) != 3 {
		t.Errorf("got %d ids remembered, want 3 (the window)", len(d.set))
	}
}

func TestCheckPayload(t *testing.T) {
	tests := []struct {
		have     int64
		maxBytes int
		wantErr  string // "" for ok
	}{
		{1 << 20, 512 << 10, ""},
		{1 << 20, 1 << 20, "max_payload: 2MB"},
		{1 << 20, 8 << 20, "max_payload: 16MB"},
		{16 << 20, 8 << 20, ""},
		{8 << 20, 8 << 20, "max_payload: 16MB"},
	}
	for _, tt := range tests {
		err := checkPayload(tt.have, tt.maxBytes)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("checkPayload(%d, %d) = %v, want ok", tt.have, tt.maxBytes, err)
		case tt.wantErr != "" && (!errors.Is(err, ErrMaxPayload) || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("checkPayload(%d, %d) = %v, want ErrMaxPayload saying %q", tt.have, tt.maxBytes, err, tt.wantErr)
		}
	}
}

func TestDiffMembers(t *testing.T) {
	m := func(ids ...string) []relay.Member {
		var out []relay.Member
		for _, id := range ids {
			out = append(out, relay.Member{Conn: id})
		}
		return out
	}
	gone, added := diffMembers(m("a", "b", "c"), m("b", "d"))
	if !reflect.DeepEqual(gone, m("a", "c")) || !reflect.DeepEqual(added, m("d")) {
		t.Errorf("got gone %v added %v, want gone [a c] added [d]", gone, added)
	}
}

func TestRedactURLs(t *testing.T) {
	got := redactURLs([]string{"nats://user:secret@h1:4222", "tls://h2:4222"})
	if strings.Contains(got, "secret") || !strings.Contains(got, "user:xxxxx@h1:4222") || !strings.Contains(got, "tls://h2:4222") {
		t.Errorf("got %q, want both urls without the password", got)
	}
}
