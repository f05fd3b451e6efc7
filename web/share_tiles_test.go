package web_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/canvasrelay/canvasrelay/relay"
)

// tileRect is a rectangle in tiles, as planPatches returns them.
type tileRect struct{ X, Y, W, H int }

// grid draws a tile grid: '#' is a changed tile, anything else is not.
type grid []string

// tiles turns g into the arrays planPatches takes.
func (g grid) tiles() (tiles []int, cols, rows int) {
	rows, cols = len(g), len(g[0])
	for _, row := range g {
		if len(row) != cols {
			panic("grid rows differ in length")
		}
		for _, c := range row {
			t := 0
			if c == '#' {
				t = 1
			}
			tiles = append(tiles, t)
		}
	}
	return tiles, cols, rows
}

// spread is a cols×rows grid with a changed tile every step tiles.
func spread(cols, rows, step int) grid {
	var g grid
	for y := range rows {
		var b strings.Builder
		for x := range cols {
			if x%step == 0 && y%step == 0 {
				b.WriteByte('#')
			} else {
				b.WriteByte('.')
			}
		}
		g = append(g, b.String())
	}
	return g
}

// blank is a cols×rows grid with the tiles at pts changed.
func blank(cols, rows int, pts ...[2]int) grid {
	b := make([][]byte, rows)
	for y := range b {
		b[y] = []byte(strings.Repeat(".", cols))
	}
	for _, p := range pts {
		b[p[1]][p[0]] = '#'
	}
	g := make(grid, rows)
	for y := range b {
		g[y] = string(b[y])
	}
	return g
}

// TestSharePlanPatches runs share-tiles.js in real Chromium (the module
// the socket worker imports): how changed tiles are grouped into a few
// patches, which tiles count as changed, how tile rectangles become pixels
// at the frame's edges, and what the encoder compares a frame with.
func TestSharePlanPatches(t *testing.T) {
	e := newEnv(t, relay.Config{MaxBytes: maxBytes})
	p := e.openNoWaitFor(t, "unit", "/", "document.readyState === 'complete'")
	p.eval(`import("/static/js/share-tiles.js").then((m) => { window.tiles = m; return true; })`, nil)

	plan := func(t *testing.T, g grid, opts string) []tileRect {
		t.Helper()
		tiles, cols, rows := g.tiles()
		js, err := json.Marshal(tiles)
		if err != nil {
			t.Fatal(err)
		}
		var got []tileRect
		p.in(t).eval(fmt.Sprintf(`window.tiles.planPatches(new Uint8Array(%s), %d, %d, %s).map((r) => ({X: r.x, Y: r.y, W: r.w, H: r.h}))`, js, cols, rows, opts), &got)
		return got
	}

	cases := []struct {
		name string
		g    grid
		opts string
		want []tileRect
	}{
		{"nothing changed", blank(4, 3), "{}", []tileRect{}},
		{"one tile", blank(4, 3, [2]int{2, 1}), "{}", []tileRect{{2, 1, 1, 1}}},
		{
			// A blinking cursor top-left and a clock bottom-right of a
			// 1080p screen (60×34 tiles): two small patches, not the
			// whole screen.
			"cursor and clock far apart",
			blank(60, 34, [2]int{1, 1}, [2]int{1, 2}, [2]int{57, 33}, [2]int{58, 33}),
			"{}",
			[]tileRect{{1, 1, 1, 2}, {57, 33, 2, 1}},
		},
		{
			"touching tiles, diagonals too, are one patch",
			grid{
				"#.....",
				".#....",
				".##...",
				"......",
			},
			"{}",
			[]tileRect{{0, 0, 3, 3}},
		},
		{
			// Two groups one tile apart: one box wastes a single tile,
			// cheaper than a second patch.
			"near groups merge",
			grid{
				"##.##.....",
				"..........",
			},
			"{}",
			[]tileRect{{0, 0, 5, 1}},
		},
		{
			"near groups stay apart when merging may waste nothing",
			grid{
				"##.##.....",
				"..........",
			},
			"{mergeTiles: 0}",
			[]tileRect{{0, 0, 2, 1}, {3, 0, 2, 1}},
		},
		{
			// The L's bounding box holds the other tile: patches never
			// overlap, so they are one.
			"overlapping boxes merge",
			grid{
				"#.#...",
				"#.....",
				"###...",
				"......",
				"......",
				".....#",
			},
			"{}",
			[]tileRect{{0, 0, 3, 3}, {5, 5, 1, 1}},
		},
		{
			// Five groups, at most four patches: the cheapest pair (the
			// left column, 10 wasted tiles, first of two ties) merges, the
			// rest stay apart.
			"at most four patches",
			blank(20, 12, [2]int{0, 0}, [2]int{19, 0}, [2]int{10, 5}, [2]int{10, 6}, [2]int{0, 11}, [2]int{19, 11}),
			"{}",
			[]tileRect{{0, 0, 1, 12}, {19, 0, 1, 1}, {10, 5, 1, 2}, {19, 11, 1, 1}},
		},
		{
			"at most two patches",
			blank(20, 12, [2]int{0, 0}, [2]int{19, 0}, [2]int{10, 5}, [2]int{10, 6}, [2]int{0, 11}, [2]int{19, 11}),
			"{maxPatches: 2}",
			[]tileRect{{0, 0, 1, 12}, {10, 0, 10, 12}},
		},
		{
			// 240 separate tiles: past 32 groups, one bounding box.
			"scattered changes are one box",
			spread(60, 34, 3),
			"{}",
			[]tileRect{{0, 0, 58, 34}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := plan(t, c.g, c.opts)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("planPatches = %v, want %v", got, c.want)
			}
			// Whatever the grouping: every changed tile is covered, no
			// two patches overlap, and the same grid gives the same plan.
			for y, row := range c.g {
				for x, ch := range row {
					if ch == '#' && !covered(got, x, y) {
						t.Errorf("changed tile (%d, %d) is in no patch", x, y)
					}
				}
			}
			for i := range got {
				for j := i + 1; j < len(got); j++ {
					if overlap(got[i], got[j]) {
						t.Errorf("patches %v and %v overlap", got[i], got[j])
					}
				}
			}
			if again := plan(t, c.g, c.opts); !reflect.DeepEqual(again, got) {
				t.Errorf("a second run gave %v, the first %v", again, got)
			}
		})
	}

	t.Run("changedTiles ignores capture noise, sees edge tiles", func(t *testing.T) {
		// 70×40 pixels: 3×2 tiles, the last column 6 pixels wide and the
		// last row 8 high. A channel moved by 12 at (0, 0) is noise; by 13
		// at (69, 39), the corner pixel, is a change.
		var got struct {
			Tiles             []int
			Cols, Rows, Count int
		}
		p.in(t).eval(`(() => {
  const a = new Uint8ClampedArray(70 * 40 * 4).fill(100);
  const b = a.slice();
  b[0] += 12;
  b[(39 * 70 + 69) * 4 + 2] -= 13;
  const r = window.tiles.changedTiles(a, b, 70, 40);
  return {Tiles: Array.from(r.tiles), Cols: r.cols, Rows: r.rows, Count: r.count};
})()`, &got)
		if got.Cols != 3 || got.Rows != 2 || got.Count != 1 || !reflect.DeepEqual(got.Tiles, []int{0, 0, 0, 0, 0, 1}) {
			t.Errorf("changedTiles = %+v, want 3×2 tiles with only the last one changed", got)
		}
	})

	t.Run("ShareEncoder compares with what it sent, so a drift adds up", func(t *testing.T) {
		// A 256×128 grey screen. Frame 2: the top-left tile drifts by 8
		// (under the noise floor) while the bottom-right tile really
		// changes: only the latter goes. Frame 3: the top-left tile is at
		// 16 from what was sent there, so it goes now. Frame 4 is frame 3
		// again: skipped. Frame 5, after reset(): a full frame.
		var got struct {
			Sent    []string
			Results []string
		}
		p.in(t).eval(`(async () => {
  const sent = [];
  const enc = new window.tiles.ShareEncoder((blob, at) => sent.push(at ? at.x + "," + at.y : "full"));
  const frame = (left, corner) => {
    const c = new OffscreenCanvas(256, 128);
    const x = c.getContext("2d");
    x.fillStyle = "rgb(100, 100, 100)";
    x.fillRect(0, 0, 256, 128);
    x.fillStyle = "rgb(" + left + ", 100, 100)";
    x.fillRect(0, 0, 32, 32);
    x.fillStyle = corner;
    x.fillRect(224, 96, 32, 32);
    return c.transferToImageBitmap();
  };
  const opts = { type: "image/png" };
  const results = [];
  const add = (r) => results.push(r.skipped ? "skipped" : r.patch ? "patches " + r.patches : "full");
  add(await enc.encode(frame(100, "rgb(100, 100, 100)"), { ...opts, full: true }));
  add(await enc.encode(frame(108, "rgb(0, 0, 0)"), opts));
  add(await enc.encode(frame(116, "rgb(0, 0, 0)"), opts));
  add(await enc.encode(frame(116, "rgb(0, 0, 0)"), opts));
  enc.reset();
  add(await enc.encode(frame(116, "rgb(0, 0, 0)"), opts));
  return { Sent: sent, Results: results };
})()`, &got)
		wantSent := []string{"full", "224,96", "0,0", "full"}
		wantResults := []string{"full", "patches 1", "patches 1", "skipped", "full"}
		if !reflect.DeepEqual(got.Sent, wantSent) || !reflect.DeepEqual(got.Results, wantResults) {
			t.Errorf("published %v with results %v, want %v and %v", got.Sent, got.Results, wantSent, wantResults)
		}
	})

	t.Run("tile rectangles to pixels, cut at the edges", func(t *testing.T) {
		var got []tileRect
		p.in(t).eval(`window.tiles.tileRectsToPixels([{x: 0, y: 0, w: 1, h: 1}, {x: 1, y: 1, w: 2, h: 1}], 70, 40).map((r) => ({X: r.x, Y: r.y, W: r.w, H: r.h}))`, &got)
		want := []tileRect{{0, 0, 32, 32}, {32, 32, 38, 8}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tileRectsToPixels = %v, want %v", got, want)
		}
	})
}

func covered(rs []tileRect, x, y int) bool {
	for _, r := range rs {
		if x >= r.X && x < r.X+r.W && y >= r.Y && y < r.Y+r.H {
			return true
		}
	}
	return false
}

func overlap(a, b tileRect) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}
