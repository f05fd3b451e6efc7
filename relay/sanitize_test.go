package relay

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostile is text that a terminal or a bidi renderer obeys rather than
// shows: CSI and OSC escape sequences, a bell, a C1 CSI, a carriage return,
// DEL, and the bidi overrides and isolates.
const hostile = "\x1b[31mred\x1b]0;title\x07 \u009b2J \r\x7f \u202eevil\u202c \u2066iso\u2069 \u202a\u202b\u202d\u2067\u2068 ok"

// controlIn returns the first control or bidi character in s that the relay
// must not pass on, and whether there is one. multiline allows \n and \t.
func controlIn(s string, multiline bool) (rune, bool) {
	for _, r := range s {
		switch {
		case (r == '\n' || r == '\t') && multiline:
		case r < 0x20, r >= 0x7f && r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return r, true
		}
	}
	return 0, false
}

// Chat lines arrive with no control characters but newline and tab, and no
// bidi overrides, whether sent as JSON or as plain text; display names
// arrive with none at all, in presence, chat and frame events.
func TestChatAndNamesCarryNoControlCharacters(t *testing.T) {
	_, u := startServer(t, Config{})
	w := dial(t, u, "ctl", dialOpt{query: "client=w&name=Watcher"})
	w.expect(TypeHello)
	name := "Eve" + hostile + "\nsecond line\t"
	e := dial(t, u, "ctl", dialOpt{query: "client=eve&name=" + url.QueryEscape(name)})
	e.expect(TypeHello)

	p := w.expect(TypePresence)
	check := func(what, got string, multiline bool) {
		t.Helper()
		if r, bad := controlIn(got, multiline); bad {
			t.Errorf("%s: got %q, which holds %U", what, got, r)
		}
		if !utf8.ValidString(got) {
			t.Errorf("%s: got %q, not valid UTF-8", what, got)
		}
	}
	check("presence name", str(p.ev, "name"), false)
	if n := str(p.ev, "name"); !strings.HasPrefix(n, "Eve[31mred") || !strings.Contains(n, "second line") {
		t.Errorf("presence name: got %q, want the visible text kept", n)
	}
	if strings.Contains(string(p.data), `\u001b`) || strings.Contains(string(p.data), "\x1b") {
		t.Errorf("presence: raw event %q holds ESC", p.data)
	}

	text := "line one\n\tline two " + hostile
	for _, send := range []string{
		`{"type":"chat","text":` + string(mustJSON(text)) + `}`, // JSON, escaped
		text, // plain text, raw bytes
	} {
		e.sendText(send)
		m := w.expect(TypeChat)
		check("chat text", str(m.ev, "text"), true)
		check("chat name", str(m.ev, "name"), false)
		if got := str(m.ev, "text"); !strings.HasPrefix(got, "line one\n\tline two [31mred") || !strings.HasSuffix(got, " ok") {
			t.Errorf("chat text: got %q, want newline, tab and the visible text kept", got)
		}
		if strings.Contains(string(m.data), `\u001b`) || strings.Contains(string(m.data), "\x1b") {
			t.Errorf("chat: raw event %q holds ESC", m.data)
		}
	}
	e.sendBinary(readTestdata(t, "photo-64x48.jpg"))
	check("frame name", str(w.expect(TypeFrame).ev, "name"), false)
	w.next(20 * time.Second)
	e.expect(TypeAck)

	// A line of nothing but control characters is empty.
	e.sendText("\x1b\x07\u202e")
	if m := e.expect(TypeError); str(m.ev, "code") != CodeBadRequest || !strings.Contains(str(m.ev, "message"), "empty") {
		t.Fatalf("got %s, want bad_request for an empty line", m.data)
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in        string
		multiline bool
		want      string
	}{
		{"plain", false, "plain"},
		{"a\x1b[2Jb", true, "a[2Jb"},
		{"a\nb\tc\r\n", true, "a\nb\tc\n"},
		{"a\nb\tc", false, "abc"},
		{"a\u2028b\u2029c", false, "abc"},
		{"a\u2028b\u2029c", true, "a\u2028b\u2029c"},
		{"\u009b31m\u0085x", true, "31mx"},
		{"\u202eabc\u202c \u2066d\u2069", true, "abc d"},
		{"é ü 日本 🙂 \u200d", true, "é ü 日本 🙂 \u200d"},
		{"bad \xff utf8", true, "bad \ufffd utf8"},
	} {
		if got := CleanText(tc.in, tc.multiline); got != tc.want {
			t.Errorf("CleanText(%q, %v): got %q, want %q", tc.in, tc.multiline, got, tc.want)
		}
	}
}
