package web

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// The pages' contract constants (static/js/contract.js) are generated from
// package relay/wire: every exported constant of wire, grouped by its
// prefix. TestContractJS fails when the file differs from what wire says
// today; regenerate it with
//
//	go generate ./web     (go test ./web -run TestContractJS -update)
var update = flag.Bool("update", false, "rewrite static/js/contract.js from package relay/wire")

const contractJSPath = "static/js/contract.js"

// wireConst is one exported constant of package wire.
type wireConst struct {
	name string
	val  string // a JavaScript literal
}

// wireConsts type-checks package wire from its source and returns its
// exported constants in source order.
func wireConsts(t *testing.T) []wireConst {
	t.Helper()
	fset := token.NewFileSet()
	dir := filepath.Join("..", "relay", "wire")
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range bp.GoFiles { // sorted, without tests, as the build sees them
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	pkg, err := conf.Check("github.com/canvasrelay/canvasrelay/relay/wire", fset, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []wireConst
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if !n.IsExported() {
						continue
					}
					c := pkg.Scope().Lookup(n.Name).(*types.Const)
					out = append(out, wireConst{n.Name, jsLiteral(t, c)})
				}
			}
		}
	}
	return out
}

func jsLiteral(t *testing.T, c *types.Const) string {
	if named, ok := c.Type().(*types.Named); ok && named.Obj().Pkg().Path() == "time" && named.Obj().Name() == "Duration" {
		n, _ := strconv.ParseInt(c.Val().ExactString(), 10, 64)
		return strconv.FormatInt(n/int64(time.Millisecond), 10) // durations go to JS as ms
	}
	switch v := c.Val().ExactString(); {
	case strings.HasPrefix(v, `"`):
		s, err := strconv.Unquote(v)
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Quote(s)
	default:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("constant %s = %s: not a string or an integer", c.Name(), v)
		}
		return v
	}
}

// jsName turns a Go name into UPPER_SNAKE: TooManyPixels → TOO_MANY_PIXELS.
func jsName(s string) string {
	if s == "WebP" {
		return "WEBP"
	}
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}

// contractGroups maps a Go prefix to the JavaScript object that holds its
// constants; the rest go into Limits (with durations in ms).
var contractGroups = []struct{ prefix, object, doc string }{
	{"Type", "Type", `The "type" of every JSON text frame`},
	{"Code", "Code", `The "code" of an error event`},
	{"Close", "Close", "Close codes (4000–4999: the relay's own)"},
	{"Presence", "Presence", `The "event" of a presence event`},
	{"Game", "GameEvent", `The "event" of {"type":"game"} from the relay`},
	{"Action", "GameAction", `The "action" of {"type":"game"} to the relay`},
	{"Query", "Query", "Query parameters of /ws/{room}"},
	{"Format", "Format", "Image format words"},
}

// contractJS renders static/js/contract.js.
func contractJS(t *testing.T) []byte {
	consts := wireConsts(t)
	var b bytes.Buffer
	b.WriteString("// Code generated from package relay/wire by \"go generate ./web\"; DO NOT EDIT.\n")
	b.WriteString("// The wire contract's names and numbers, for the pages. TestContractJS\n")
	b.WriteString("// fails when this file and package wire differ.\n\n")
	used := map[string]bool{}
	for _, g := range contractGroups {
		fmt.Fprintf(&b, "// %s.\nexport const %s = Object.freeze({\n", g.doc, g.object)
		for _, c := range consts {
			if rest, ok := strings.CutPrefix(c.name, g.prefix); ok && rest != "" && !used[c.name] && unicode.IsUpper([]rune(rest)[0]) {
				fmt.Fprintf(&b, "  %s: %s,\n", jsName(rest), c.val)
				used[c.name] = true
			}
		}
		b.WriteString("});\n\n")
	}
	b.WriteString("// Limits and other constants of the contract (durations in ms).\nexport const Limits = Object.freeze({\n")
	for _, c := range consts {
		if used[c.name] || c.name == "Subprotocol" || c.name == "RoomPattern" {
			continue
		}
		name := jsName(c.name)
		if strings.HasSuffix(c.name, "Pause") {
			name += "_MS"
		}
		fmt.Fprintf(&b, "  %s: %s,\n", name, c.val)
	}
	b.WriteString("});\n\n")
	fmt.Fprintf(&b, "// The formats a relay accepts by default (hello.formats).\nexport const DEFAULT_FORMATS = Object.freeze(%s);\n\n", jsStrings(wire.DefaultFormats()))
	fmt.Fprintf(&b, "// The WebSocket subprotocol the pages offer.\nexport const SUBPROTOCOL = %s;\n\n", strconv.Quote(wire.Subprotocol))
	fmt.Fprintf(&b, "// Room names and client ids: %s.\nexport const ROOM_RE = /%s/;\n", wire.NameRule, wire.RoomPattern)
	return b.Bytes()
}

func jsStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestContractJS holds static/js/contract.js to package relay/wire.
func TestContractJS(t *testing.T) {
	want := contractJS(t)
	if *update {
		if err := os.WriteFile(contractJSPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(contractJSPath)
	if err != nil {
		t.Fatalf("%v: run go generate ./web", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			g, w := "", ""
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from package relay/wire at line %d:\n got %q\nwant %q\nrun go generate ./web", contractJSPath, i+1, g, w)
			}
		}
	}
	// The served copy is the file on disk (go:embed), as it was when this
	// test was built.
	if a := mustLoadAssets()["js/contract.js"]; !*update && !bytes.Equal(a.body, got) {
		t.Errorf("the embedded js/contract.js differs from %s", contractJSPath)
	}
}
