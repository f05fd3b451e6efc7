package imageproc

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"testing"

	"github.com/disintegration/imaging"
)

// TestFilterQuality backs the filter choice in resize.go: a 960x540 crop of
// the 1080p canvas shrunk by 1.5x (to 640x360, the ratio of 1080p to 720p)
// and written as JPEG q80 through Reencode (triangle filter) is compared
// with Lanczos + JPEG q80, against two references that favour each side: the
// uncompressed Lanczos result, and an exact area average. The triangle must
// be within 1.5 dB PSNR of Lanczos against the Lanczos reference and within
// 0.5 dB against the area reference.
func TestFilterQuality(t *testing.T) {
	full := decodePNG(t, readTestdata(t, "canvas-1920x1080.png"))
	img := imaging.Crop(full, image.Rect(480, 270, 1440, 810))
	var src bytes.Buffer
	if err := png.Encode(&src, img); err != nil {
		t.Fatal(err)
	}
	const w, h = 640, 360
	refLanczos := imaging.Resize(img, w, h, imaging.Lanczos)
	refArea := areaResize(img, w, h)

	res, err := Reencode(src.Bytes(), Info{}, Options{MaxWidth: w, MaxHeight: h, Format: OutputJPEG, Quality: 80})
	if err != nil {
		t.Fatal(err)
	}
	ours := decodeJPEG(t, res.Bytes)
	lanczos := decodeJPEG(t, encodeJPEG(t, refLanczos, 80))
	naive, err := naiveReencode(src.Bytes(), w, h)
	if err != nil {
		t.Fatal(err)
	}
	naiveImg := decodeJPEG(t, naive)

	for _, ref := range []struct {
		name   string
		img    image.Image
		margin float64
	}{{"lanczos reference", refLanczos, 1.5}, {"area reference", refArea, 0.5}} {
		po, pl, pn := psnr(t, ours, ref.img), psnr(t, lanczos, ref.img), psnr(t, naiveImg, ref.img)
		t.Logf("%s: triangle q80 %.2f dB, lanczos q80 %.2f dB, naive (lanczos q95) %.2f dB", ref.name, po, pl, pn)
		if po < pl-ref.margin {
			t.Errorf("%s: triangle %.2f dB, want >= lanczos %.2f dB - %.1f", ref.name, po, pl, ref.margin)
		}
	}
}

func decodeJPEG(tb testing.TB, b []byte) image.Image {
	tb.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("decode jpeg: %v", err)
	}
	return img
}

func encodeJPEG(tb testing.TB, img image.Image, q int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// psnr over the colour channels of two opaque pictures of one size.
func psnr(tb testing.TB, a, b image.Image) float64 {
	tb.Helper()
	na, nb := imaging.Clone(a), imaging.Clone(b)
	if na.Rect.Size() != nb.Rect.Size() {
		tb.Fatalf("got size %v, want %v", na.Rect.Size(), nb.Rect.Size())
	}
	var se float64
	for i := 0; i < len(na.Pix); i += 4 {
		for c := range 3 {
			d := float64(na.Pix[i+c]) - float64(nb.Pix[i+c])
			se += d * d
		}
	}
	mse := se / float64(len(na.Pix)/4*3)
	return 10 * math.Log10(255*255/mse)
}

// areaResize is an exact area average (each output pixel is the mean of the
// source area it covers, with fractional coverage at the edges), separable,
// in float64. It is slow and only a test reference, for opaque pictures.
func areaResize(src *image.NRGBA, w, h int) *image.NRGBA {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	cover := func(dst, size int) [][]struct {
		i int
		w float64
	} {
		r := float64(size) / float64(dst)
		out := make([][]struct {
			i int
			w float64
		}, dst)
		for x := range dst {
			a, b := float64(x)*r, float64(x+1)*r
			for i := int(a); i < size && float64(i) < b; i++ {
				ov := math.Min(b, float64(i+1)) - math.Max(a, float64(i))
				if ov > 0 {
					out[x] = append(out[x], struct {
						i int
						w float64
					}{i, ov / r})
				}
			}
		}
		return out
	}
	cx, cy := cover(w, sw), cover(h, sh)
	tmp := make([]float64, w*sh*3)
	for y := range sh {
		for x, taps := range cx {
			for _, t := range taps {
				p := src.Pix[y*src.Stride+t.i*4:]
				for c := range 3 {
					tmp[(y*w+x)*3+c] += float64(p[c]) * t.w
				}
			}
		}
	}
	dst := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y, taps := range cy {
		for x := range w {
			var acc [3]float64
			for _, t := range taps {
				for c := range 3 {
					acc[c] += tmp[(t.i*w+x)*3+c] * t.w
				}
			}
			d := dst.Pix[y*dst.Stride+x*4:]
			for c := range 3 {
				d[c] = uint8(math.Round(math.Min(acc[c], 255)))
			}
			d[3] = 255
		}
	}
	return dst
}
