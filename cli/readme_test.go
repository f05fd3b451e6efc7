package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/canvasrelay/canvasrelay/relay"
)

// TestReadmeServeDefaults holds the README's "Server flags" table to the
// flags: a default written there as a value (`8MiB`, `4096x4096`, `20000`)
// must be the flag's default, as the flag reads it. Rows that say the
// default in words ("none", "one per CPU") or name several flags are not
// checked.
func TestReadmeServeDefaults(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "## Server flags")
	if !ok {
		t.Fatal("README.md: no Server flags section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\| `([^`]*)`")
	// Flags whose zero stands for a default the relay works out.
	zeroMeans := map[string]string{"room-retained-bytes": formatSize(relay.DefaultConfig().RoomRetainedBytes)}
	fresh := func() *pflag.FlagSet {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		serveFlags(&serveOptions{}, fs)
		return fs
	}
	defaults := fresh()
	checked := 0
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		name, doc := m[1], m[2]
		f := defaults.Lookup(name)
		if f == nil {
			t.Errorf("README.md lists --%s, which serve does not have", name)
			continue
		}
		want := f.Value.String()
		if v, ok := zeroMeans[name]; ok && want == "0" {
			want = v
		}
		fs := fresh()
		if err := fs.Set(name, doc); err != nil {
			t.Errorf("README.md: --%s default %q: %v", name, doc, err)
			continue
		}
		if got := fs.Lookup(name).Value.String(); got != want {
			t.Errorf("README.md: --%s default %q (%s), but the flag's default is %s", name, doc, got, want)
		}
		checked++
	}
	if checked < 20 {
		t.Errorf("checked %d README defaults, want at least 20: did the table change shape?", checked)
	}
}
