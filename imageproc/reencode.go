package imageproc

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"sync"

	"github.com/disintegration/imaging"
)

// OutputFormat selects the format Reencode writes.
type OutputFormat string

const (
	// OutputAuto writes JPEG when every pixel is opaque and PNG when any
	// pixel is (even partly) transparent, so a transparent canvas layer
	// never turns black. It is the default.
	OutputAuto OutputFormat = "auto"
	// OutputPNG always writes PNG.
	OutputPNG OutputFormat = "png"
	// OutputJPEG always writes JPEG; transparent pixels are flattened onto
	// white (never black, unlike canvas.toBlob("image/jpeg")).
	OutputJPEG OutputFormat = "jpeg"
	// OutputOriginal keeps PNG and JPEG inputs in their format. GIF and WebP
	// inputs that fit are forwarded as they are; when they must be resized
	// they are written as OutputAuto (there is no WebP encoder, and GIF
	// re-quantisation loses quality).
	OutputOriginal OutputFormat = "original"
)

// DefaultQuality is the JPEG quality used when Options.Quality is 0
// (imaging's own default, 95, costs more bytes for no visible gain on canvases).
const DefaultQuality = 80

// ParseOutputFormat parses "auto", "png", "jpeg" (or "jpg") and "original",
// ignoring case. The empty string means OutputAuto.
func ParseOutputFormat(s string) (OutputFormat, error) {
	switch w := strings.ToLower(strings.TrimSpace(s)); w {
	case "", "auto":
		return OutputAuto, nil
	case "png", "jpeg", "original":
		return OutputFormat(w), nil
	case "jpg":
		return OutputJPEG, nil
	}
	return "", fmt.Errorf("imageproc: unknown output format %q (want auto, png, jpeg or original)", s)
}

// Options describe the wanted rendition. The zero value means "auto format,
// quality 80, no size limit".
type Options struct {
	// MaxWidth and MaxHeight bound the output box; 0 leaves that axis
	// unbounded. The picture is scaled down to fit, keeping its aspect
	// ratio, and is never scaled up.
	MaxWidth, MaxHeight int
	// Format is the output format; "" means OutputAuto.
	Format OutputFormat
	// Quality is the JPEG quality, 1 to 100; 0 means DefaultQuality.
	Quality int
}

// Validate reports options that Reencode would refuse: negative sizes, an
// unknown format, or a quality outside 0-100.
func (o Options) Validate() error {
	if o.MaxWidth < 0 || o.MaxHeight < 0 {
		return fmt.Errorf("imageproc: negative max size %dx%d", o.MaxWidth, o.MaxHeight)
	}
	if _, err := ParseOutputFormat(string(o.Format)); err != nil {
		return err
	}
	if o.Quality < 0 || o.Quality > 100 {
		return fmt.Errorf("imageproc: quality %d outside 1-100", o.Quality)
	}
	return nil
}

// Result is the output of Reencode.
type Result struct {
	// Bytes is the encoded output. When Passthrough is set it is src
	// itself (not a copy: callers must not modify it), or, when src carried
	// metadata or bytes after its end marker, a copy of src without them.
	Bytes []byte
	// Info describes Bytes: format, width and height after orientation
	// and fitting, and length.
	Info Info
	// Passthrough reports that src already met the target (same format,
	// fits the box, upright) and is returned with no encode, stripped of
	// metadata and of anything after its end marker. No decode happens either, except for a PNG under
	// OutputAuto, whose pixels must be scanned for transparency.
	Passthrough bool
}

// Reencode renders src as opt asks: oriented upright (EXIF orientation of
// JPEG input), fitted into the box without upscaling, first frame only for
// GIF, metadata stripped, written as PNG or JPEG. When src already meets the
// target it is returned unchanged (Result.Passthrough).
//
// in must be the Info that Inspect returned for src: Inspect's limits are
// what bound the memory of the decode (about MemoryCost(in, opt) bytes). A
// zero Info makes Reencode run Inspect with the default Limits. Only the
// format's own decoder runs, and decoder or encoder panics are returned as
// ErrInvalid. Errors are *Error values (see Code); invalid options are
// ErrInvalid too, so check them first with Options.Validate.
func Reencode(src []byte, in Info, opt Options) (Result, error) {
	return ReencodeContext(context.Background(), src, in, opt)
}

// ReencodeContext is Reencode with a deadline: once ctx is done, the
// decoder's reads and the PNG encoder's writes fail, the steps in between
// are not started, and the error is ErrTimeout (see deadline.go).
func ReencodeContext(ctx context.Context, src []byte, in Info, opt Options) (res Result, err error) {
	// Decoders and encoders recover their own panics (decode, encode); this
	// catches the rest of the pipeline (imaging transforms, resize).
	defer func() {
		if r := recover(); r != nil {
			res, err = Result{}, newErr(ErrInvalid, fmt.Errorf("%v", r), "reencode panic")
		}
	}()
	if err := opt.Validate(); err != nil {
		return Result{}, newErr(ErrInvalid, err, "bad options")
	}
	in, err = checkInfo(src, in)
	if err != nil {
		return Result{}, err
	}
	orientation := 0
	if in.Format == JPEG {
		orientation, _ = scanJPEG(src)
	}
	ow, oh := in.Width, in.Height // upright size
	if orientation >= 5 {
		ow, oh = oh, ow
	}
	tw, th := fitBox(ow, oh, opt.MaxWidth, opt.MaxHeight)
	// Bytes that pass through leave without metadata and without anything
	// after their end marker; a container that cannot be walked for that
	// takes the decode path.
	clean, walked := cleanBytes(in.Format, src)
	unchanged := tw == ow && th == oh && orientation <= 1 && walked
	passthrough := func() (Result, error) {
		ci := in
		ci.Bytes = len(clean)
		return Result{Bytes: clean, Info: ci, Passthrough: true}, nil
	}

	out, known := staticTarget(opt.Format, in.Format, unchanged)
	if unchanged && known && out == in.Format {
		return passthrough()
	}

	img, err := decode(ctx, src, in)
	if err != nil {
		return Result{}, err
	}
	opaque := isOpaque(img) // one scan, shared by the steps below
	if !known {
		// auto: JPEG when every pixel is opaque, PNG when any is not.
		out = PNG
		if opaque {
			out = JPEG
		}
	}
	if unchanged && out == in.Format {
		return passthrough()
	}
	if tw != ow || th != oh {
		rw, rh := tw, th // resize in stored orientation, then rotate the smaller image
		if orientation >= 5 {
			rw, rh = th, tw
		}
		img = resize(img, rw, rh, opaque)
		if err := timeoutErr(ctx, "the resize"); err != nil {
			return Result{}, err
		}
	}
	img = orient(img, orientation)
	if err := timeoutErr(ctx, "orientation"); err != nil {
		return Result{}, err
	}

	b, err := encode(ctx, img, out, opt.Quality, in.Bytes, opaque)
	if err != nil {
		return Result{}, err
	}
	r := img.Bounds()
	return Result{Bytes: b, Info: infoOf(out, b, r.Dx(), r.Dy())}, nil
}

// fitBox returns the size of a w x h picture scaled down, aspect kept, to fit
// maxW x maxH (0 = unbounded). It never scales up and never returns 0.
func fitBox(w, h, maxW, maxH int) (int, int) {
	fitsW := maxW <= 0 || w <= maxW
	fitsH := maxH <= 0 || h <= maxH
	if fitsW && fitsH {
		return w, h
	}
	// Decide which side limits, in integers: w/maxW > h/maxH <=> w*maxH > h*maxW.
	if maxH <= 0 || (maxW > 0 && int64(w)*int64(maxH) > int64(h)*int64(maxW)) {
		return maxW, max(1, int((int64(h)*int64(maxW)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(maxH)+int64(h)/2)/int64(h))), maxH
}

// staticTarget returns the output format when it is known without looking at
// the pixels, and false when it depends on transparency (the auto rule).
func staticTarget(o OutputFormat, in Format, unchanged bool) (Format, bool) {
	switch o {
	case OutputPNG:
		return PNG, true
	case OutputJPEG:
		return JPEG, true
	case OutputOriginal:
		if in == PNG || in == JPEG || unchanged {
			return in, true
		}
	default: // auto: a JPEG is always opaque.
		if in == JPEG {
			return JPEG, true
		}
	}
	return "", false
}

// isOpaque reports whether every pixel has full alpha. Every image type the
// decoders return has an Opaque method; anything else counts as transparent,
// which errs towards PNG.
func isOpaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// encode writes img as f, recovering encoder panics.
func encode(ctx context.Context, img image.Image, f Format, quality, sizeHint int, opaque bool) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, newErr(ErrInvalid, fmt.Errorf("%v", r), "%s encoder panic", f)
		}
	}()
	var buf bytes.Buffer
	buf.Grow(min(sizeHint, 1<<20) + 1024)
	var w io.Writer = ctxWriter{ctx: ctx, w: &buf}
	switch f {
	case JPEG:
		if quality == 0 {
			quality = DefaultQuality
		}
		err = jpeg.Encode(w, flattenOnWhite(img, opaque), &jpeg.Options{Quality: quality})
	case PNG:
		err = pngEncoder.Encode(w, img)
	default:
		err = fmt.Errorf("no encoder for %q", f)
	}
	if err := timeoutErr(ctx, "the "+string(f)+" encode"); err != nil {
		return nil, err
	}
	if err != nil {
		return nil, newErr(ErrInvalid, err, "encode %s", f)
	}
	return buf.Bytes(), nil
}

// pngEncoder favours speed: renditions are made per frame on the hot path,
// and canvas strokes compress well even at BestSpeed.
var pngEncoder = png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngBufferPool{}}

type pngBufferPool struct{ p sync.Pool }

func (p *pngBufferPool) Get() *png.EncoderBuffer {
	b, _ := p.p.Get().(*png.EncoderBuffer)
	return b
}

func (p *pngBufferPool) Put(b *png.EncoderBuffer) { p.p.Put(b) }

// flattenOnWhite returns img as an opaque image that image/jpeg encodes on
// its fast paths (*image.RGBA, *image.YCbCr, *image.Gray), compositing
// transparent pixels onto white. opaque tells that img is known to be
// opaque. It modifies img in place when it can: img is always a picture this
// package decoded or resized, never shared.
func flattenOnWhite(img image.Image, opaque bool) image.Image {
	switch m := img.(type) {
	case *image.YCbCr, *image.Gray:
		return m
	case *image.RGBA: // premultiplied: over white is c + (255 - a)
		if !opaque && !m.Opaque() {
			for i := 0; i+3 < len(m.Pix); i += 4 {
				k := 255 - m.Pix[i+3]
				m.Pix[i] += k
				m.Pix[i+1] += k
				m.Pix[i+2] += k
				m.Pix[i+3] = 255
			}
		}
		return m
	case *image.NRGBA:
		if !opaque && !m.Opaque() {
			for i := 0; i+3 < len(m.Pix); i += 4 {
				a := uint32(m.Pix[i+3])
				if a == 255 {
					continue
				}
				k := (255 - a) * 255
				m.Pix[i] = uint8((uint32(m.Pix[i])*a + k + 127) / 255)
				m.Pix[i+1] = uint8((uint32(m.Pix[i+1])*a + k + 127) / 255)
				m.Pix[i+2] = uint8((uint32(m.Pix[i+2])*a + k + 127) / 255)
				m.Pix[i+3] = 255
			}
		}
		// Opaque NRGBA and RGBA share a memory layout.
		return &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
	}
	return flattenOnWhite(imaging.Clone(img), opaque)
}
