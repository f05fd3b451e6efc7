package imageproc

import (
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/disintegration/imaging"
	"golang.org/x/image/webp"
)

// decodeFuncs is the decoder allow-list for full decodes. gif.Decode stops
// after the first frame.
var decodeFuncs = map[Format]func(io.Reader) (image.Image, error){
	PNG:  png.Decode,
	JPEG: jpeg.Decode,
	GIF:  gif.Decode,
	WebP: webp.Decode,
}

// Verify fully decodes b (the first frame of a GIF) with the format's own
// decoder and checks that the pixels match what the header promised. It
// rejects inputs that Inspect accepts because only their body is broken,
// such as truncated files. in must come from Inspect(b, ...), which bounds
// the memory the decode may take (about Width*Height*4 bytes); a zero Info
// makes Verify run Inspect with the default Limits first. Every failure is
// ErrInvalid (code invalid_image), apart from the errors of that Inspect.
func Verify(b []byte, in Info) error {
	return VerifyContext(context.Background(), b, in)
}

// VerifyContext is Verify with a deadline: once ctx is done the decoder's
// reads fail, and the error is ErrTimeout (see deadline.go).
func VerifyContext(ctx context.Context, b []byte, in Info) error {
	in, err := checkInfo(b, in)
	if err != nil {
		return err
	}
	_, err = decode(ctx, b, in)
	return err
}

// checkInfo returns in, or runs Inspect with default limits when in is the
// zero Info. A non-zero in whose format does not match b's magic bytes is
// ErrInvalid.
func checkInfo(b []byte, in Info) (Info, error) {
	if in == (Info{}) {
		return Inspect(b, Limits{})
	}
	if f, ok := Sniff(b); !ok || f != in.Format || in.Width <= 0 || in.Height <= 0 {
		return Info{}, newErr(ErrInvalid, nil, "info %+v does not describe the input", in)
	}
	return in, nil
}

// decode fully decodes b as in.Format, recovering decoder panics. For a GIF it
// returns the first frame drawn on the logical screen.
func decode(ctx context.Context, b []byte, in Info) (img image.Image, err error) {
	fn := decodeFuncs[in.Format]
	if fn == nil {
		return nil, newErr(ErrUnsupported, nil, "no decoder for %q", in.Format)
	}
	if in.Format == JPEG { // in may not come from Inspect: count scans before any decode
		if err := checkJPEGScans(b); err != nil {
			return nil, err
		}
	}
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, newErr(ErrInvalid, fmt.Errorf("%v", r), "%s decoder panic", in.Format)
		}
	}()
	img, err = fn(&ctxReader{ctx: ctx, b: b})
	if err := timeoutErr(ctx, "the "+string(in.Format)+" decode"); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, newErr(ErrInvalid, err, "bad %s data", in.Format)
	}
	r := img.Bounds()
	if in.Format == GIF && r != image.Rect(0, 0, in.Width, in.Height) {
		// The first frame covers part of the logical screen: the rest is transparent.
		if !r.In(image.Rect(0, 0, in.Width, in.Height)) {
			return nil, newErr(ErrInvalid, nil, "gif frame %v outside the %dx%d screen", r, in.Width, in.Height)
		}
		screen := image.NewNRGBA(image.Rect(0, 0, in.Width, in.Height))
		draw.Draw(screen, r, img, r.Min, draw.Src)
		img = screen
	}
	if r := img.Bounds(); r.Dx() != in.Width || r.Dy() != in.Height {
		return nil, newErr(ErrInvalid, nil, "decoded %dx%d, header says %dx%d", r.Dx(), r.Dy(), in.Width, in.Height)
	}
	return img, nil
}

// orient applies an EXIF orientation (1-8) so the picture comes out upright.
func orient(img image.Image, o int) image.Image {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}
