package relay

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/internal/testimg"
	"github.com/lxzan/gws"
)

// noise returns a w×h picture of seeded random pixels; with alpha, some
// are transparent or half transparent.
func noise(w, h int, seed uint64, alpha bool) *image.NRGBA {
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

// solid returns a w×h picture of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatalf("encode png: %v", err)
	}
	return b.Bytes()
}

// toNRGBA returns img's pixels as 8-bit NRGBA at (0, 0): exact for NRGBA
// and for opaque RGBA, which is what PNGs of 8-bit pixels decode to.
func toNRGBA(t testing.TB, img image.Image) *image.NRGBA {
	t.Helper()
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(x, y, color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)))
		}
	}
	return out
}

func decodePNG(t testing.TB, b []byte) *image.NRGBA {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode png: %v", err)
	}
	return toNRGBA(t, img)
}

// drawPatch copies src over dst at (x, y): the patch's pixels replace what
// they cover, transparent ones included.
func drawPatch(dst *image.NRGBA, x, y int, src *image.NRGBA) {
	w := 4 * src.Rect.Dx()
	for row := 0; row < src.Rect.Dy(); row++ {
		i := dst.PixOffset(x, y+row)
		copy(dst.Pix[i:i+w], src.Pix[row*src.Stride:row*src.Stride+w])
	}
}

// samePixels reports the first pixel where a and b differ.
func samePixels(a, b *image.NRGBA) error {
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

func (c *tclient) sendPatch(x, y int, img []byte) {
	c.t.Helper()
	c.sendText(fmt.Sprintf(`{"type":"patch","x":%d,"y":%d}`, x, y))
	c.sendBinary(img)
}

// answer returns the next ack or error event, skipping frames (with their
// images), presence and keyframe events; keyframes counts the keyframe
// events it skipped.
func (c *tclient) answer(keyframes *int) tmsg {
	c.t.Helper()
	for {
		m := c.next(20 * time.Second)
		switch {
		case m.op != gws.OpcodeText:
			c.t.Fatalf("got %s, want an ack or error", describe(m))
		case m.typ == TypeFrame:
			c.next(20 * time.Second)
		case m.typ == TypeKeyframe:
			if keyframes != nil {
				*keyframes++
			}
		case m.typ == TypeAck || m.typ == TypeError:
			return m
		}
	}
}

// expectAck checks that the next answer is the ack of seq.
func (c *tclient) expectAck(seq int) {
	c.t.Helper()
	m := c.answer(nil)
	if m.typ != TypeAck || num(m.ev, "seq") != seq {
		c.t.Fatalf("got %s, want the ack of seq %d", m.data, seq)
	}
}

// expectRefused checks that the next answer is an error with code and seq.
func (c *tclient) expectRefused(code string, seq int) tmsg {
	c.t.Helper()
	m := c.answer(nil)
	if m.typ != TypeError || str(m.ev, "code") != code || num(m.ev, "seq") != seq {
		c.t.Fatalf("got %s, want an error %q with seq %d", m.data, code, seq)
	}
	return m
}

// picture keeps a subscriber's view of one sender: full frames replace
// it, patches are drawn over it.
type picture struct {
	t   testing.TB
	img *image.NRGBA
}

// apply draws a received frame (its event and image) onto the picture.
func (p *picture) apply(ev map[string]any, data []byte) {
	p.t.Helper()
	got := decodePNG(p.t, data)
	if patch, _ := ev["patch"].(bool); patch {
		if p.img == nil {
			p.t.Fatalf("a patch %v came before any full frame", ev)
		}
		drawPatch(p.img, num(ev, "x"), num(ev, "y"), got)
		return
	}
	p.img = got
}

// padTo grows a PNG to n bytes with a private chunk.
func padTo(t testing.TB, png []byte, n int) []byte {
	t.Helper()
	b, err := testimg.PadPNG(png, n, 'p')
	if err != nil {
		t.Fatalf("pad png: %v", err)
	}
	return b
}
