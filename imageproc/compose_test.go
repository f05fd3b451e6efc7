package imageproc

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

func composeTestPNG(t *testing.T, img image.Image) ([]byte, Info) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	info, err := Inspect(b.Bytes(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), info
}

func fill(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// Patches replace what they cover, transparent pixels included, in order;
// auto writes PNG when a pixel is transparent and JPEG otherwise.
func TestCompose(t *testing.T) {
	red, blue, clear := color.NRGBA{255, 0, 0, 255}, color.NRGBA{0, 0, 255, 128}, color.NRGBA{}
	base, bi := composeTestPNG(t, fill(20, 10, red))
	p1, i1 := composeTestPNG(t, fill(5, 5, blue))
	p2, i2 := composeTestPNG(t, fill(2, 2, clear))
	res, err := Compose(context.Background(), base, bi, []PatchImage{{X: 15, Y: 5, Bytes: p1, Info: i1}, {X: 16, Y: 6, Bytes: p2, Info: i2}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Format != PNG {
		t.Fatalf("got %s, want png (transparent pixels)", res.Info.Format)
	}
	img, err := png.Decode(bytes.NewReader(res.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	n := img.(*image.NRGBA)
	for _, tc := range []struct {
		x, y int
		want color.NRGBA
	}{{0, 0, red}, {14, 9, red}, {15, 5, blue}, {19, 9, blue}, {16, 6, clear}, {17, 7, clear}, {18, 8, blue}} {
		if got := n.NRGBAAt(tc.x, tc.y); got != tc.want {
			t.Errorf("pixel (%d, %d): got %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}

	opaque, oi := composeTestPNG(t, fill(4, 4, color.NRGBA{0, 255, 0, 255}))
	res, err = Compose(context.Background(), base, bi, []PatchImage{{X: 0, Y: 0, Bytes: opaque, Info: oi}}, Options{Format: OutputOriginal})
	if err != nil || res.Info.Format != JPEG {
		t.Fatalf("opaque: got %s, %v, want jpeg", res.Info.Format, err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(res.Bytes)); err != nil {
		t.Fatal(err)
	}
	res, err = Compose(context.Background(), base, bi, nil, Options{MaxWidth: 10, Format: OutputPNG})
	if err != nil || res.Info.Width != 10 || res.Info.Height != 5 || res.Info.Format != PNG {
		t.Fatalf("resized: got %+v, %v, want a 10x5 png", res.Info, err)
	}
	if _, err := Compose(context.Background(), base, bi, []PatchImage{{X: 17, Y: 0, Bytes: opaque, Info: oi}}, Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("out of bounds: got %v, want ErrInvalid", err)
	}
}
