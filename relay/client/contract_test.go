package client

import (
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// TestImportsNoRelay holds issue 16's promise: relay/client takes the
// contract from relay/wire and never imports the server (package relay or
// any other package under relay/), so a program that only talks to a
// relay does not link one.
func TestImportsNoRelay(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the imports: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const mod = "github.com/canvasrelay/canvasrelay"
	var seen []string
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, mod+"/") {
			continue
		}
		seen = append(seen, p)
		if p == mod+"/relay" || strings.HasPrefix(p, mod+"/relay/") && p != mod+"/relay/wire" && p != mod+"/relay/client" {
			t.Errorf("relay/client depends on %s: it may use relay/wire only", p)
		}
	}
	if !slices.Contains(seen, mod+"/relay/wire") {
		t.Errorf("relay/client does not depend on relay/wire (deps: %v): where does its contract come from?", seen)
	}
}

// jsonNames returns the JSON field names of struct type t, skipping the
// embedded raw and the "type" field that EventType stands for.
func jsonNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || name == "type" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return slices.Compact(names)
}

// TestEventFieldsMatchWire holds the client's event types to the contract's
// shapes in package wire: the same JSON field names, no more, no fewer.
// (The Go types may differ: Seq is an int64 here.)
func TestEventFieldsMatchWire(t *testing.T) {
	for _, tt := range []struct {
		client any
		wire   []any
	}{
		{Hello{}, []any{wire.HelloEvent{}}},
		{Presence{}, []any{wire.PresenceEvent{}}},
		{Chat{}, []any{wire.ChatEvent{}}},
		{FrameInfo{}, []any{wire.FrameEvent{}}},
		{Ack{}, []any{wire.AckEvent{}}},
		{ErrorEvent{}, []any{wire.ErrorEvent{}}},
		{Player{}, []any{wire.GamePlayer{}}},
		{Score{}, []any{wire.GameScore{}}},
		// Game is the union of every game event.
		{Game{}, []any{wire.GameStartEvent{}, wire.GameTurnEvent{}, wire.GameGuessedEvent{}, wire.GameRevealEvent{}, wire.GameOverEvent{}}},
	} {
		ct := reflect.TypeOf(tt.client)
		var want []string
		for _, w := range tt.wire {
			want = append(want, jsonNames(reflect.TypeOf(w))...)
		}
		sort.Strings(want)
		want = slices.Compact(want)
		if got := jsonNames(ct); !slices.Equal(got, want) {
			t.Errorf("client.%s fields %v, want wire's %v", ct.Name(), got, want)
		}
	}
}

// TestEventTypesFromWire checks that ParseEvent knows each server → client
// type of the contract under its wire name.
func TestEventTypesFromWire(t *testing.T) {
	for _, typ := range []string{wire.TypeHello, wire.TypePresence, wire.TypeChat, wire.TypeFrame, wire.TypeAck, wire.TypeError, wire.TypeGame} {
		ev, err := ParseEvent([]byte(`{"type":"` + typ + `"}`))
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if _, unknown := ev.(*Unknown); unknown || ev.EventType() != typ {
			t.Errorf("ParseEvent of %q: got %T with type %q, want a known event of that type", typ, ev, ev.EventType())
		}
	}
}
