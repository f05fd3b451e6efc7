package wire

import (
	"encoding/json"
	"go/build"
	"regexp"
	"strings"
	"testing"
)

// TestLeaf holds the package to the standard library, so that a client can
// import it without the server.
func TestLeaf(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range append(pkg.Imports, pkg.TestImports...) {
		if strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			t.Errorf("imports %s: package wire may import only the standard library", imp)
		}
	}
}

func TestValidRoom(t *testing.T) {
	re := regexp.MustCompile(RoomPattern)
	long := strings.Repeat("a", MaxRoomLen)
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"a", true},
		{"Room-1.x_y", true},
		{long, true},
		{long + "a", false},
		{"", false},
		{"a b", false},
		{"a/b", false},
		{"é", false},
		{"a\n", false},
		{"..", true},
		{"a%2F", false},
	} {
		if got := ValidRoom(tt.name); got != tt.want {
			t.Errorf("ValidRoom(%q) = %v, want %v", tt.name, got, tt.want)
		}
		if got := ValidID(tt.name); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.name, got, tt.want)
		}
		if got := re.MatchString(tt.name); got != tt.want {
			t.Errorf("RoomPattern matches %q = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzRoomPattern holds the regular expression the pages use to ValidRoom.
func FuzzRoomPattern(f *testing.F) {
	re := regexp.MustCompile(RoomPattern)
	for _, s := range []string{"a", "", "a b", strings.Repeat("z", 65), "x.y-z_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidRoom(s) != re.MatchString(s) {
			t.Errorf("%q: ValidRoom %v, RoomPattern %v", s, ValidRoom(s), re.MatchString(s))
		}
	})
}

func TestCodesDistinct(t *testing.T) {
	seen := map[string]bool{}
	word := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	for _, c := range Codes {
		if seen[c] {
			t.Errorf("error code %q listed twice", c)
		}
		seen[c] = true
		if !word.MatchString(c) {
			t.Errorf("error code %q is not a lower-case machine word", c)
		}
	}
	if len(Codes) != 10 {
		t.Errorf("got %d error codes, want 10: add a new code to Codes too", len(Codes))
	}
}

func TestCloseCodes(t *testing.T) {
	for _, c := range []int{CloseSlowConsumer, CloseQueueOverflow, ClosePingTimeout} {
		if c < CloseRelayMin || c > CloseRelayMax {
			t.Errorf("relay close code %d outside %d–%d", c, CloseRelayMin, CloseRelayMax)
		}
	}
	for _, c := range []int{CloseNormal, CloseGoingAway, CloseAbnormal, CloseInvalidData, ClosePolicy, CloseTooBig} {
		if c < 1000 || c > 1015 {
			t.Errorf("standard close code %d outside 1000–1015", c)
		}
	}
}

// TestEventFields pins the JSON of each event to the field names the
// contract (DESIGN.md, README) lists.
func TestEventFields(t *testing.T) {
	n, zero := 1, 0
	for _, tt := range []struct {
		v    any
		want string
	}{
		{HelloEvent{Type: TypeHello}, `{"type":"hello","id":"","client":"","resume":"","room":"","count":0,"max_bytes":0,"max_pixels":0,"formats":null}`},
		{PresenceEvent{Type: TypePresence, Event: PresenceJoin}, `{"type":"presence","count":0,"event":"join","client":"","name":""}`},
		{ChatEvent{Type: TypeChat}, `{"type":"chat","client":"","name":"","text":"","ts":0}`},
		{FrameEvent{Type: TypeFrame}, `{"type":"frame","client":"","name":"","seq":0,"format":"","width":0,"height":0,"bytes":0,"ts":0}`},
		{FrameEvent{Type: TypeFrame, Patch: true, X: &zero, Y: &n}, `{"type":"frame","client":"","name":"","seq":0,"format":"","width":0,"height":0,"bytes":0,"ts":0,"patch":true,"x":0,"y":1}`},
		{AckEvent{Type: TypeAck, Seq: 3}, `{"type":"ack","seq":3,"format":"","width":0,"height":0,"bytes":0}`},
		{ErrorEvent{Type: TypeError, Code: CodeTooLarge}, `{"type":"error","code":"too_large","message":""}`},
		{ErrorEvent{Type: TypeError, Code: CodeTooLarge, Seq: 2}, `{"type":"error","code":"too_large","message":"","seq":2}`},
		{Command{Type: TypeGame, Action: ActionStart, Rounds: &n}, `{"type":"game","text":"","action":"start","rounds":1,"seconds":null,"x":null,"y":null}`},
		{GameStartEvent{Type: TypeGame, Event: GameStart, Players: []GamePlayer{{}}}, `{"type":"game","event":"start","by":"","rounds":0,"seconds":0,"players":[{"client":"","name":""}]}`},
		{GameTurnEvent{Type: TypeGame, Event: GameTurn}, `{"type":"game","event":"turn","turn":0,"turns":0,"drawer":"","name":"","hint":"","length":0,"ends_at":0}`},
		{GameTurnEvent{Type: TypeGame, Event: GameTurn, Word: "w"}, `{"type":"game","event":"turn","turn":0,"turns":0,"drawer":"","name":"","hint":"","length":0,"ends_at":0,"word":"w"}`},
		{GameGuessedEvent{Type: TypeGame, Event: GameGuessed}, `{"type":"game","event":"guessed","client":"","name":"","points":0}`},
		{GameRevealEvent{Type: TypeGame, Event: GameReveal, Scores: []GameScore{{}}}, `{"type":"game","event":"reveal","word":"","scores":[{"client":"","name":"","score":0}]}`},
		{GameOverEvent{Type: TypeGame, Event: GameOver}, `{"type":"game","event":"over","scores":null,"winner":""}`},
	} {
		b, err := json.Marshal(tt.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("%T:\n got %s\nwant %s", tt.v, b, tt.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	f := DefaultFormats()
	if strings.Join(f, ",") != "png,jpeg,gif,webp" {
		t.Errorf("DefaultFormats() = %v, want png,jpeg,gif,webp", f)
	}
	f[0] = "x"
	if DefaultFormats()[0] != FormatPNG {
		t.Error("DefaultFormats shares its slice with callers")
	}
	if DefaultMaxBytes != 8<<20 || DefaultMaxPixels != 16777216 {
		t.Errorf("got max_bytes %d, max_pixels %d, want 8 MiB and 4096×4096", DefaultMaxBytes, DefaultMaxPixels)
	}
	if !(MinRounds <= DefaultRounds && DefaultRounds <= MaxRounds && MinSeconds <= DefaultSeconds && DefaultSeconds <= MaxSeconds) {
		t.Error("a game default is outside its range")
	}
}
