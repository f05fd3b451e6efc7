package imageproc

import (
	"context"
	"fmt"
	"image"

	"github.com/disintegration/imaging"
)

// PatchImage is one patch of a layer log: an image whose pixels replace
// the rectangle at (X, Y) of the picture, with the image's own size.
type PatchImage struct {
	X, Y  int
	Bytes []byte
	Info  Info // from Inspect(Bytes)
}

// ComposeCost estimates the peak bytes Compose may allocate: the cost of
// re-encoding the base as opt asks (MemoryCost), one 4-byte-a-pixel canvas,
// and the decode and conversion of the largest patch. Use it as the cost of
// a Pool job.
func ComposeCost(base Info, patches []PatchImage, opt Options) int64 {
	cost := MemoryCost(base, opt) + 4*int64(base.Width)*int64(base.Height)
	var worst int64
	for _, p := range patches {
		worst = max(worst, MemoryCost(p.Info, Options{}))
	}
	return cost + worst
}

// Compose draws patches, in order, over the decoded base (its stored
// pixels: no EXIF orientation is applied, patches address the image as
// its header describes it) and encodes the result as opt asks. Each
// patch's pixels replace what they cover, transparent ones included (the
// Porter-Duff "src" operator), exactly: the canvas is 8-bit
// non-premultiplied RGBA and patch pixels are copied, not blended.
// OutputOriginal means OutputAuto here (the picture has no single original
// format): PNG when any pixel is transparent, JPEG otherwise. A patch that
// does not fit inside the base is ErrInvalid. Errors are *Error values.
func Compose(ctx context.Context, base []byte, in Info, patches []PatchImage, opt Options) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = Result{}, newErr(ErrInvalid, fmt.Errorf("%v", r), "compose panic")
		}
	}()
	if err := opt.Validate(); err != nil {
		return Result{}, newErr(ErrInvalid, err, "bad options")
	}
	in, err = checkInfo(base, in)
	if err != nil {
		return Result{}, err
	}
	img, err := decode(ctx, base, in)
	if err != nil {
		return Result{}, err
	}
	canvas := cloneNRGBA(img)
	img = nil
	bounds := canvas.Rect
	for i, p := range patches {
		pi, err := checkInfo(p.Bytes, p.Info)
		if err != nil {
			return Result{}, err
		}
		r := image.Rect(p.X, p.Y, p.X+pi.Width, p.Y+pi.Height)
		if p.X < 0 || p.Y < 0 || !r.In(bounds) {
			return Result{}, newErr(ErrInvalid, nil, "patch %d at %v is outside the %dx%d picture", i+1, r, in.Width, in.Height)
		}
		pimg, err := decode(ctx, p.Bytes, pi)
		if err != nil {
			return Result{}, err
		}
		copyRect(canvas, r.Min, cloneNRGBA(pimg))
		if err := timeoutErr(ctx, "a patch"); err != nil {
			return Result{}, err
		}
	}
	opaque := canvas.Opaque()
	out := PNG
	switch opt.Format {
	case OutputJPEG:
		out = JPEG
	case OutputPNG:
	default:
		if opaque {
			out = JPEG
		}
	}
	var pic image.Image = canvas
	if tw, th := fitBox(in.Width, in.Height, opt.MaxWidth, opt.MaxHeight); tw != in.Width || th != in.Height {
		pic = resize(canvas, tw, th, opaque)
		if err := timeoutErr(ctx, "the resize"); err != nil {
			return Result{}, err
		}
	}
	b, err := encode(ctx, pic, out, opt.Quality, in.Bytes, opaque)
	if err != nil {
		return Result{}, err
	}
	r := pic.Bounds()
	return Result{Bytes: b, Info: infoOf(out, b, r.Dx(), r.Dy())}, nil
}

// cloneNRGBA returns img as a new *image.NRGBA with its origin at (0, 0).
// 8-bit NRGBA and opaque RGBA pixels are copied as they are; other types
// are converted by imaging.Clone.
func cloneNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.NRGBA:
		dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := 0; y < b.Dy(); y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(dst.Pix[y*dst.Stride:y*dst.Stride+4*b.Dx()], m.Pix[i:i+4*b.Dx()])
		}
		return dst
	case *image.RGBA:
		if m.Opaque() { // opaque premultiplied pixels are their own NRGBA
			dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
			for y := 0; y < b.Dy(); y++ {
				i := m.PixOffset(b.Min.X, b.Min.Y+y)
				copy(dst.Pix[y*dst.Stride:y*dst.Stride+4*b.Dx()], m.Pix[i:i+4*b.Dx()])
			}
			return dst
		}
	}
	return imaging.Clone(img)
}

// copyRect copies src (at (0, 0)) into dst at at, row by row.
func copyRect(dst *image.NRGBA, at image.Point, src *image.NRGBA) {
	w := 4 * src.Rect.Dx()
	for y := 0; y < src.Rect.Dy(); y++ {
		i := dst.PixOffset(at.X, at.Y+y)
		copy(dst.Pix[i:i+w], src.Pix[y*src.Stride:y*src.Stride+w])
	}
}
