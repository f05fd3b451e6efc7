package imageproc

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/disintegration/imaging"
)

// TestResizeOpaqueMatchesImaging checks the fixed-point resampler against
// imaging.Resize with imaging.Linear, the filter it implements, on ratios
// below 4 (no box pre-shrink), shrinking and growing, within two levels per
// channel.
func TestResizeOpaqueMatchesImaging(t *testing.T) {
	src := decodePNG(t, readTestdata(t, "canvas-1920x1080.png"))
	small := imaging.Crop(src, image.Rect(300, 200, 557, 391)) // odd sizes: 257x191
	sizes := []struct{ w, h int }{
		{1280, 720}, {500, 300},
	}
	for _, sz := range sizes {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			compareResize(t, src, sz.w, sz.h)
		})
	}
	// Width only, height only, grow, and odd ratios on a 257x191 crop.
	for _, sz := range []struct{ w, h int }{{100, 75}, {256, 190}, {300, 250}, {700, 600}, {100, 191}, {257, 50}, {255, 189}} {
		t.Run(fmt.Sprintf("crop-%dx%d", sz.w, sz.h), func(t *testing.T) {
			compareResize(t, small, sz.w, sz.h)
		})
	}
}

func compareResize(t *testing.T, src *image.NRGBA, w, h int) {
	t.Helper()
	want := imaging.Resize(src, w, h, imaging.Linear)
	got := resize(src, w, h, true)
	if _, ok := got.(*image.RGBA); !ok {
		t.Fatalf("got %T, want *image.RGBA from the opaque fast path", got)
	}
	if d := maxChannelDiff(t, got, want); d > 2 {
		t.Errorf("max channel difference from imaging.Linear = %d, want <= 2", d)
	}
}

func TestTriangleWeightsSum(t *testing.T) {
	for _, c := range [][2]int{{1280, 1920}, {1, 1920}, {1920, 1280}, {7, 3}, {3, 7}, {100, 100}} {
		for x, taps := range triangleWeights(c[0], c[1]) {
			var sum int32
			for _, tp := range taps {
				if tp.idx < 0 || int(tp.idx) >= c[1] || tp.w <= 0 {
					t.Fatalf("%v: output %d has tap %+v out of range", c, x, tp)
				}
				sum += tp.w
			}
			if sum != 1<<weightBits {
				t.Fatalf("%v: output %d weights sum to %d, want %d", c, x, sum, 1<<weightBits)
			}
		}
	}
}

func decodePNG(tb testing.TB, b []byte) *image.NRGBA {
	tb.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("decode png: %v", err)
	}
	return imaging.Clone(img)
}

// maxChannelDiff returns the largest difference of any channel of any pixel
// (compared as non-premultiplied RGBA). The sizes must match.
func maxChannelDiff(tb testing.TB, a, b image.Image) int {
	tb.Helper()
	na, nb := imaging.Clone(a), imaging.Clone(b)
	if na.Rect.Size() != nb.Rect.Size() {
		tb.Fatalf("got size %v, want %v", na.Rect.Size(), nb.Rect.Size())
	}
	m := 0
	for i := range na.Pix {
		d := int(na.Pix[i]) - int(nb.Pix[i])
		m = max(m, d, -d)
	}
	return m
}

// TestResizeLargeRatio covers reductions of 4x and more, where a box
// pre-shrink precedes the triangle filter: the result must stay close to a
// pure triangle filter (imaging.Linear) on average.
func TestResizeLargeRatio(t *testing.T) {
	src := decodePNG(t, readTestdata(t, "canvas-1920x1080.png"))
	for _, sz := range []struct{ w, h int }{{320, 180}, {7, 1080}, {1920, 3}, {1, 1}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			want := imaging.Resize(src, sz.w, sz.h, imaging.Linear)
			got := resize(src, sz.w, sz.h, true)
			if d := meanChannelDiff(t, got, want); d > 3 {
				t.Errorf("mean channel difference from imaging.Linear = %.2f, want <= 3", d)
			}
		})
	}
}

// TestBoxShrink checks block averages, the remainder blocks, and that
// transparent pixels (stored as black) do not darken their block.
func TestBoxShrink(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for y := range 3 {
		for x := range 5 {
			if x%2 == 0 {
				src.SetNRGBA(x, y, color.NRGBA{200, 100, 50, 255})
			} // odd columns stay transparent black
		}
	}
	got := boxShrink(src, 2, 2) // 2x1 blocks: columns [0,2) and [2,5), rows [0,3)
	if got.Rect.Dx() != 2 || got.Rect.Dy() != 1 {
		t.Fatalf("got size %v, want 2x1", got.Rect.Size())
	}
	want := []color.NRGBA{
		{200, 100, 50, 128}, // 3 of 6 pixels opaque
		{200, 100, 50, 170}, // 6 of 9 pixels opaque
	}
	for x, w := range want {
		if c := got.NRGBAAt(x, 0); c != w {
			t.Errorf("pixel %d = %v, want %v", x, c, w)
		}
	}
}

// TestResizeTransparentNeverDarkens resizes white strokes on transparent
// black: every visible output pixel must stay white.
func TestResizeTransparentNeverDarkens(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 400, 300))
	for y := range 300 {
		for x := range 400 {
			if (x/3+y/5)%4 == 0 {
				src.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
			}
		}
	}
	for _, sz := range []struct{ w, h int }{{300, 225}, {40, 30}, {7, 5}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			out := imaging.Clone(resize(src, sz.w, sz.h, false))
			for i := 0; i < len(out.Pix); i += 4 {
				if out.Pix[i+3] > 0 && (out.Pix[i] < 250 || out.Pix[i+1] < 250 || out.Pix[i+2] < 250) {
					t.Fatalf("pixel %d = %v, want white where visible", i/4, out.Pix[i:i+4])
				}
			}
		})
	}
}

func meanChannelDiff(tb testing.TB, a, b image.Image) float64 {
	tb.Helper()
	na, nb := imaging.Clone(a), imaging.Clone(b)
	if na.Rect.Size() != nb.Rect.Size() {
		tb.Fatalf("got size %v, want %v", na.Rect.Size(), nb.Rect.Size())
	}
	var sum float64
	for i := range na.Pix {
		d := float64(na.Pix[i]) - float64(nb.Pix[i])
		sum += max(d, -d)
	}
	return sum / float64(len(na.Pix))
}
