package web

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// lineComment is a // comment that is not part of a URL in a string.
var lineComment = regexp.MustCompile(`(^|\s)//.*$`)

// TestPagesUseContract fails when a page's script writes a piece of the
// contract by hand instead of taking it from contract.js, where it could
// drift from package wire unseen: an error code, the subprotocol, the room
// rule, one of the relay's close codes, or an event or command type
// compared or sent as a string literal. The pages' HTML forms are held to
// wire's rules too.
func TestPagesUseContract(t *testing.T) {
	var banned []string
	for _, c := range wire.Codes {
		banned = append(banned, strconv.Quote(c))
	}
	banned = append(banned, strconv.Quote(wire.Subprotocol), strings.Trim(wire.RoomPattern, "^$"))
	closeNum := regexp.MustCompile(fmt.Sprintf(`\b(%d|%d|%d|%d|%d|%d|%d)\b`, wire.CloseInvalidData, wire.ClosePolicy, wire.CloseTooBig,
		wire.CloseSlowConsumer, wire.CloseQueueOverflow, wire.ClosePingTimeout, wire.CloseRelayMax))
	types := strings.Join([]string{wire.TypeHello, wire.TypePresence, wire.TypeChat, wire.TypeFrame, wire.TypeAck, wire.TypeError, wire.TypeGame, wire.TypePatch, wire.TypeKeyframe}, "|")
	words := strings.Join([]string{types, wire.GameStart, wire.GameTurn, wire.GameGuessed, wire.GameReveal, wire.GameOver, wire.ActionStart, wire.ActionStop, wire.PresenceJoin, wire.PresenceLeave}, "|")
	// A socket event of the pages' own ({ev:"frame"}) may share a word with
	// the contract, so "case" is checked for the event types that do not.
	typeLit := regexp.MustCompile(`(\.type|\.event|\.action)\s*[!=]==?\s*"(` + words + `)"|\b(type|action|event):\s*"(` + words + `)"|case "(` +
		strings.ReplaceAll(types, "|"+wire.TypeFrame, "") + `)":`)
	files, err := filepath.Glob("static/js/*.js")
	if err != nil || len(files) < 5 {
		t.Fatalf("static/js: %d scripts, err %v", len(files), err)
	}
	for _, f := range files {
		if filepath.Base(f) == "contract.js" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			code := lineComment.ReplaceAllString(line, "")
			if strings.HasPrefix(strings.TrimSpace(code), "*") {
				continue // inside a /* */ comment
			}
			for _, s := range banned {
				if strings.Contains(code, s) {
					t.Errorf("%s:%d: %s written by hand; import it from contract.js", f, i+1, s)
				}
			}
			if m := closeNum.FindString(code); m != "" {
				t.Errorf("%s:%d: close code %s written by hand; use Close from contract.js", f, i+1, m)
			}
			if m := typeLit.FindString(code); m != "" {
				t.Errorf("%s:%d: %q: a contract word written by hand; use Type, GameEvent or GameAction from contract.js", f, i+1, m)
			}
		}
	}

	// The landing page's room field checks the room rule before the relay does.
	html, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`id="room"[^>]*pattern="([^"]*)"`).FindSubmatch(html)
	if m == nil {
		t.Fatal(`index.html: no pattern on the room field`)
	}
	// HTML patterns are compiled with the v flag, where "-" in a class is escaped.
	if got, want := strings.ReplaceAll(string(m[1]), `\-`, "-"), strings.Trim(wire.RoomPattern, "^$"); got != want {
		t.Errorf("index.html: room pattern %q, want wire.RoomPattern %q", got, want)
	}
	if !bytes.Contains(html, []byte(fmt.Sprintf(`maxlength="%d"`, wire.MaxRoomLen))) {
		t.Errorf("index.html: the room field has no maxlength=%d", wire.MaxRoomLen)
	}

	// The game page offers only rounds and seconds a start may ask for, and
	// selects the defaults.
	html, err = os.ReadFile("static/game.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, sel := range []struct {
		id            string
		min, max, def int
	}{{"rounds", wire.MinRounds, wire.MaxRounds, wire.DefaultRounds}, {"seconds", wire.MinSeconds, wire.MaxSeconds, wire.DefaultSeconds}} {
		body := regexp.MustCompile(`(?s)<select id="` + sel.id + `">(.*?)</select>`).FindSubmatch(html)
		if body == nil {
			t.Errorf("game.html: no select #%s", sel.id)
			continue
		}
		opts := regexp.MustCompile(`<option value="(\d+)"( selected)?>`).FindAllSubmatch(body[1], -1)
		if len(opts) == 0 {
			t.Errorf("game.html: #%s has no options", sel.id)
		}
		for _, o := range opts {
			v, _ := strconv.Atoi(string(o[1]))
			if v < sel.min || v > sel.max {
				t.Errorf("game.html: #%s offers %d, outside the contract's %d to %d", sel.id, v, sel.min, sel.max)
			}
			if len(o[2]) > 0 && v != sel.def {
				t.Errorf("game.html: #%s selects %d, want the contract's default %d", sel.id, v, sel.def)
			}
		}
	}
}
