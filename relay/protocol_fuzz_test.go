package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseText checks the client text-frame parser against the contract
// for any bytes a client can send:
//   - it never panics;
//   - invalid UTF-8 is errInvalidUTF8 (the relay closes with 1007), and only
//     invalid UTF-8 is;
//   - valid UTF-8 that is not JSON is chat whose text is the input exactly;
//   - JSON that is not an object is errBadCommand (bad_request);
//   - a JSON object is accepted only as a chat or game command, and an
//     object whose "type" is another string is errBadCommand;
//   - every error is one of the two sentinels.
//
// CI runs the seeds below with go test; to explore, run
//
//	go test -run '^$' -fuzz '^FuzzParseText$' -fuzztime 60s ./relay/
func FuzzParseText(f *testing.F) {
	for _, s := range []string{
		``, ` `, "\t\r\n", `hello`, `hello world`, `  padded  `, `é ünïcödé ✓ 🎨`,
		`{"type":"chat","text":"hi"}`, ` {"type":"chat","text":"spaced"} `,
		`{"type":"chat","text":""}`, `{"type":"chat"}`, `{"type":"chat","text":"\u00e9\ud83c\udfa8"}`,
		`{"type":"chat","text":5}`, `{"type":"chat","text":null}`, `{"TYPE":"chat","Text":"case"}`,
		`{"type":"chat","type":"frame"}`, `{"type":"game","action":"start","rounds":2,"seconds":30}`,
		`{"type":"game","action":"stop"}`, `{"type":"game","rounds":"2"}`, `{"type":"game","rounds":1e400}`,
		`{"type":"frame"}`, `{"type":"hello"}`, `{"type":""}`, `{}`, `{"text":"no type"}`, `{"type":7}`,
		`[]`, `[{"type":"chat"}]`, `"chat"`, `42`, `-0.5e3`, `true`, `null`, `{`, `{"type":"chat"`,
		`{"type":"chat","text":"a"}{"type":"chat"}`, `{"type":"chat","text":"a"} trailing`,
		"{\"type\":\"chat\",\"text\":\"\x00\"}", `{"type":"chat","text":"\ud800"}`,
		strings.Repeat(`[`, 1000), strings.Repeat("a", 5000),
	} {
		f.Add([]byte(s))
	}
	for _, b := range [][]byte{
		{0xff}, {0xc0, 0x80}, {0xed, 0xa0, 0x80}, []byte("ok \xe2\x82"), []byte(`{"type":"chat","text":"` + "\xfe" + `"}`),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		cmd, err := parseText(b)
		if !bytes.Equal(b, in) {
			t.Fatalf("parseText changed its input")
		}
		if err != nil {
			if !errors.Is(err, errInvalidUTF8) && !errors.Is(err, errBadCommand) {
				t.Fatalf("parseText(%q): got error %v, want errInvalidUTF8 or errBadCommand", b, err)
			}
			if cmd != (command{}) {
				t.Fatalf("parseText(%q): got command %+v with error %v, want the zero command", b, cmd, err)
			}
		}
		if !utf8.Valid(b) {
			if !errors.Is(err, errInvalidUTF8) {
				t.Fatalf("parseText(%q) (invalid UTF-8): got %+v, %v, want errInvalidUTF8", b, cmd, err)
			}
			return
		}
		if errors.Is(err, errInvalidUTF8) {
			t.Fatalf("parseText(%q) (valid UTF-8): got errInvalidUTF8", b)
		}
		trimmed := bytes.TrimSpace(b)
		if !json.Valid(trimmed) {
			if err != nil || cmd.Type != TypeChat || cmd.Text != string(b) {
				t.Fatalf("parseText(%q) (not JSON): got %+v, %v, want chat with the exact text", b, cmd, err)
			}
			return
		}
		if trimmed[0] != '{' {
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("parseText(%q) (JSON, not an object): got %+v, %v, want errBadCommand", b, cmd, err)
			}
			return
		}
		if err == nil && cmd.Type != TypeChat && cmd.Type != TypeGame {
			t.Fatalf("parseText(%q): accepted type %q, want only chat or game", b, cmd.Type)
		}
		// An independent reading of the object: when exactly one key names
		// the type (encoding/json matches keys without regard to case) and
		// its value is a string, that string decides.
		var obj map[string]json.RawMessage
		if json.Unmarshal(trimmed, &obj) != nil {
			return
		}
		var typeKeys []string
		for k := range obj {
			if strings.EqualFold(k, "type") {
				typeKeys = append(typeKeys, k)
			}
		}
		if len(typeKeys) == 0 {
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("parseText(%q) (no type): got %+v, %v, want errBadCommand", b, cmd, err)
			}
			return
		}
		// A null value says nothing: encoding/json leaves the field as an
		// earlier duplicate key set it, which the map above cannot show.
		var typ string
		if len(typeKeys) != 1 || string(bytes.TrimSpace(obj[typeKeys[0]])) == "null" || json.Unmarshal(obj[typeKeys[0]], &typ) != nil {
			return
		}
		if typ != TypeChat && typ != TypeGame && typ != TypePatch && !errors.Is(err, errBadCommand) {
			t.Fatalf("parseText(%q) (type %q): got %+v, %v, want errBadCommand", b, typ, cmd, err)
		}
		if err == nil && cmd.Type != typ {
			t.Fatalf("parseText(%q): got type %q, want %q", b, cmd.Type, typ)
		}
	})
}

// FuzzChatCommandRoundTrip checks that any UTF-8 text a client wraps in
// {"type":"chat","text":…} (as a page's JSON.stringify would) comes out of
// the parser unchanged.
func FuzzChatCommandRoundTrip(f *testing.F) {
	for _, s := range []string{"", "hi", " spaced ", `{"type":"chat"}`, "line\nbreak", "<script>", "\u2028", "🎨", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			return // json.Marshal would replace the bad bytes: not a round trip
		}
		b, err := json.Marshal(map[string]string{"type": TypeChat, "text": text})
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := parseText(b)
		if err != nil || cmd.Type != TypeChat || cmd.Text != text {
			t.Fatalf("parseText(%s): got %+v, %v, want chat %q", b, cmd, err, text)
		}
	})
}
