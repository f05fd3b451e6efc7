package testimg

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"
)

// Pictures for patch-frame tests: a sender's layer, the patches drawn on
// it, and a subscriber's picture rebuilt from what it received, compared
// pixel for pixel. Shared by the relay's tests and the NATS broker's.

// Noise returns a w×h picture of seeded random pixels; with alpha, some
// are transparent or half transparent.
func Noise(w, h int, seed uint64, alpha bool) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255
		if alpha {
			switch r.IntN(4) {
			case 0:
				img.Pix[i+3] = 0
			case 1:
				img.Pix[i+3] = uint8(r.IntN(256))
			}
		}
	}
	return img
}

// Solid returns a w×h picture of one colour.
func Solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// EncodePNG encodes img as PNG.
func EncodePNG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// DecodePNG decodes a PNG to 8-bit NRGBA at (0, 0): exact for NRGBA and
// for opaque RGBA, which is what PNGs of 8-bit pixels decode to.
func DecodePNG(b []byte) (*image.NRGBA, error) {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return ToNRGBA(img), nil
}

// ToNRGBA returns img's pixels as 8-bit NRGBA at (0, 0).
func ToNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(x, y, color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)))
		}
	}
	return out
}

// DrawPatch copies src over dst at (x, y): the patch's pixels replace what
// they cover, transparent ones included.
func DrawPatch(dst *image.NRGBA, x, y int, src *image.NRGBA) {
	w := 4 * src.Rect.Dx()
	for row := 0; row < src.Rect.Dy(); row++ {
		i := dst.PixOffset(x, y+row)
		copy(dst.Pix[i:i+w], src.Pix[row*src.Stride:row*src.Stride+w])
	}
}

// SamePixels reports the first pixel where a and b differ.
func SamePixels(a, b *image.NRGBA) error {
	if a.Rect.Size() != b.Rect.Size() {
		return fmt.Errorf("size %v, want %v", a.Rect.Size(), b.Rect.Size())
	}
	for y := 0; y < a.Rect.Dy(); y++ {
		for x := 0; x < a.Rect.Dx(); x++ {
			if ca, cb := a.NRGBAAt(x, y), b.NRGBAAt(x, y); ca != cb {
				return fmt.Errorf("pixel (%d, %d) is %v, want %v", x, y, ca, cb)
			}
		}
	}
	return nil
}

// Picture is a subscriber's view of one sender: full frames replace it,
// patches are drawn over it.
type Picture struct {
	Img *image.NRGBA
}

// Apply draws a received frame: a PNG, a patch at (x, y) or a full frame.
func (p *Picture) Apply(patch bool, x, y int, data []byte) error {
	got, err := DecodePNG(data)
	if err != nil {
		return err
	}
	if !patch {
		p.Img = got
		return nil
	}
	if p.Img == nil {
		return fmt.Errorf("a patch at (%d, %d) came before any full frame", x, y)
	}
	if x+got.Rect.Dx() > p.Img.Rect.Dx() || y+got.Rect.Dy() > p.Img.Rect.Dy() {
		return fmt.Errorf("a %v patch at (%d, %d) does not fit the %v picture", got.Rect.Size(), x, y, p.Img.Rect.Size())
	}
	DrawPatch(p.Img, x, y, got)
	return nil
}

// Sequence follows what a subscriber gets from one sender and checks that
// it is consistent: full frames, each newer than what came before, and
// patches, each the next of the sender's seqs after the frame before it
// (none dropped from the middle). Its Picture is the subscriber's.
type Sequence struct {
	Picture
	Seq      int  // the seq of the last frame taken
	WasPatch bool // whether it was a patch
	Frames   int  // frames taken
}

// Take checks one received frame and draws it.
func (s *Sequence) Take(patch bool, seq, x, y int, data []byte) error {
	if patch && seq != s.Seq+1 {
		return fmt.Errorf("patch seq %d after seq %d: a patch was dropped from the middle", seq, s.Seq)
	}
	if !patch && seq <= s.Seq {
		return fmt.Errorf("full frame seq %d after seq %d: a step back", seq, s.Seq)
	}
	s.Seq, s.WasPatch = seq, patch
	s.Frames++
	return s.Apply(patch, x, y, data)
}

// MustEncodePNG is EncodePNG for tests.
func MustEncodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	b, err := EncodePNG(img)
	if err != nil {
		tb.Fatalf("encode png: %v", err)
	}
	return b
}

// MustDecodePNG is DecodePNG for tests.
func MustDecodePNG(tb testing.TB, b []byte) *image.NRGBA {
	tb.Helper()
	img, err := DecodePNG(b)
	if err != nil {
		tb.Fatalf("decode png: %v", err)
	}
	return img
}
