package bench

import (
	"reflect"
	"strings"
	"testing"
)

func TestMakeStrokesDeterministicAndInBounds(t *testing.T) {
	a, b := makeStrokes(200, 18), makeStrokes(200, 18)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed made different strokes")
	}
	if reflect.DeepEqual(a, makeStrokes(200, 19)) {
		t.Fatal("another seed made the same strokes")
	}
	minLen, maxLen := 1000, 0
	for i, s := range a {
		n := len(s.pts) - 1
		minLen, maxLen = min(minLen, n), max(maxLen, n)
		if n < strokeMinMove || n > strokeMaxMove {
			t.Errorf("stroke %d: %d moves, want %d to %d", i, n, strokeMinMove, strokeMaxMove)
		}
		for _, p := range s.pts {
			if p[0] < 0 || p[0] > 1 || p[1] < 0 || p[1] > 1 {
				t.Fatalf("stroke %d leaves the board: %v", i, p)
			}
		}
		if s.width < 2 || s.width > 11 || !strings.HasPrefix(s.color, "#") {
			t.Errorf("stroke %d: width %d, colour %q", i, s.width, s.color)
		}
	}
	if maxLen-minLen < 20 {
		t.Errorf("stroke lengths %d to %d moves: want them varied", minLen, maxLen)
	}
}

func TestTypingText(t *testing.T) {
	s := typingText(150, 18)
	if len(s) != 150 || s != typingText(150, 18) || s == typingText(150, 19) {
		t.Fatalf("typingText(150, 18) = %q: want 150 characters, the same for the same seed only", s)
	}
	if strings.Count(s, " ") < 10 {
		t.Errorf("%q: want words", s)
	}
}

func TestComparePixels(t *testing.T) {
	a := &rgba{W: 2, H: 2, Px: []byte{1, 2, 3, 255, 0, 0, 0, 0, 9, 9, 9, 9, 7, 7, 7, 7}}
	b := &rgba{W: 2, H: 2, Px: append([]byte(nil), a.Px...)}
	if d := comparePixels(a, b); !d.Identical() || d.Mismatch != 0 {
		t.Fatalf("same pixels: %+v", d)
	}
	b.Px[4+3] = 40 // alpha of pixel 1
	b.Px[8] = 2    // red of pixel 2
	if d := comparePixels(a, b); d.Identical() || d.Mismatch != 2 || d.MaxDelta != 40 {
		t.Fatalf("two pixels off, by up to 40: %+v", d)
	}
	c := &rgba{W: 4, H: 1, Px: a.Px}
	if d := comparePixels(a, c); d.Identical() || !d.SizeDiffs || d.Mismatch != 4 {
		t.Fatalf("sizes differ: %+v", d)
	}
}

func TestFormatOf(t *testing.T) {
	for ev, want := range map[string]string{
		`{"type":"frame","client":"a","seq":3,"format":"webp","width":1}`: "webp",
		`{"type":"frame","seq":3}`:                                        "",
		`{"type":"frame","format":"` + strings.Repeat("x", 40) + `"}`:     "",
	} {
		if got := formatOf([]byte(ev)); got != want {
			t.Errorf("formatOf(%s) = %q, want %q", ev, got, want)
		}
	}
}

func TestPatchesOptions(t *testing.T) {
	o := Options{}.defaults("patches")
	if o.Strokes != 200 || o.Typing.Seconds() != 30 || o.Seed != 18 || o.ShareQuality != 1 {
		t.Fatalf("patches defaults: %d strokes, %s typing, seed %d, quality %g", o.Strokes, o.Typing, o.Seed, o.ShareQuality)
	}
	for _, bad := range []Options{{Workload: "paint"}, {ShareQuality: 1.5}, {Strokes: 6000}} {
		b := bad.defaults("patches")
		if err := b.validate(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
