package imageproc

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"slices"

	"golang.org/x/image/webp"
)

// Defaults used for zero (or negative) Limits fields.
const (
	DefaultMaxBytes  = 8 << 20     // 8 MiB
	DefaultMaxPixels = 4096 * 4096 // 16,777,216
)

// Limits bound what Inspect accepts. The zero value is usable: every zero
// field takes its default.
type Limits struct {
	// MaxBytes is the largest accepted encoded size. Default DefaultMaxBytes.
	MaxBytes int
	// MaxPixels bounds width*height as claimed by the header. Default DefaultMaxPixels.
	MaxPixels int64
	// Formats is the allow-list. Default (nil or empty): all four formats.
	Formats []Format
}

// WithDefaults returns l with every zero or negative field replaced by its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if len(l.Formats) == 0 {
		l.Formats = AllFormats()
	}
	return l
}

// Info describes an image as its header claims it.
type Info struct {
	Format        Format
	Width, Height int
	Bytes         int // encoded size, len of the input
	// DecodeBytes is what the format's own decoder allocates to decode this
	// image, from its header: bytes per pixel by bit depth and colour type,
	// Adam7 passes, JPEG components, sampling and progressive coefficients
	// (see decodeBytes). 0 when unknown; MemoryCost then assumes the worst.
	DecodeBytes int64
}

// Inspect checks b against lim without decoding pixels. The checks run in
// this order, and the first failure is returned:
//
//  1. empty input                          -> ErrEmpty         (invalid_image)
//  2. len(b) > MaxBytes                    -> ErrTooLarge      (too_large)
//  3. magic bytes not PNG/JPEG/GIF/WebP    -> ErrUnsupported   (unsupported_format)
//     (unknown bytes count as an unsupported format, not as an invalid image:
//     a corrupted signature is indistinguishable from another format)
//  4. format not in Formats                -> ErrUnsupported   (unsupported_format)
//  5. the format's own DecodeConfig fails  -> ErrInvalid       (invalid_image)
//  6. width <= 0 or height <= 0            -> ErrInvalid       (invalid_image)
//  7. width*height > MaxPixels             -> ErrTooManyPixels (too_many_pixels)
//  8. JPEG: more than MaxJPEGScans scans   -> ErrInvalid       (invalid_image)
//     (a marker walk that never decodes: a "scan bomb" of thousands of
//     scans would cost seconds of CPU in any full decode)
//
// Only the sniffed format's decoder runs (image/png, image/jpeg, image/gif or
// golang.org/x/image/webp); the global image.RegisterFormat table is never
// consulted, so decoders registered by other imports (BMP, TIFF) are
// unreachable. A decoder panic is recovered and reported as ErrInvalid.
// Inspect reads only the header: a truncated body passes; use Verify for a
// full decode.
func Inspect(b []byte, lim Limits) (Info, error) {
	lim = lim.WithDefaults()
	if len(b) == 0 {
		return Info{}, newErr(ErrEmpty, nil, "empty image")
	}
	if len(b) > lim.MaxBytes {
		return Info{}, newErr(ErrTooLarge, nil, "image is %d bytes, limit %d", len(b), lim.MaxBytes)
	}
	f, ok := Sniff(b)
	if !ok {
		if other := sniffOther(b); other != "" {
			return Info{}, newErr(ErrUnsupported, nil, "%s is not supported (allowed: %s)", other, formatList(lim.Formats))
		}
		return Info{}, newErr(ErrUnsupported, nil, "unrecognised image format (allowed: %s)", formatList(lim.Formats))
	}
	if !slices.Contains(lim.Formats, f) {
		return Info{}, newErr(ErrUnsupported, nil, "%s is not allowed (allowed: %s)", f, formatList(lim.Formats))
	}
	cfg, err := decodeConfig(f, b)
	if err != nil {
		return Info{}, newErr(ErrInvalid, err, "bad %s header", f)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, newErr(ErrInvalid, nil, "bad %s dimensions %dx%d", f, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > lim.MaxPixels {
		return Info{}, newErr(ErrTooManyPixels, nil, "%dx%d is %d pixels, limit %d", cfg.Width, cfg.Height, px, lim.MaxPixels)
	}
	var jl *jpegLayout
	if f == JPEG {
		l, err := jpegScans(b)
		if err != nil {
			return Info{}, err
		}
		jl = &l
	}
	info := Info{Format: f, Width: cfg.Width, Height: cfg.Height, Bytes: len(b)}
	info.DecodeBytes = decodeBytes(f, b, cfg.Width, cfg.Height, jl)
	return info, nil
}

// configFuncs is the decoder allow-list for headers.
var configFuncs = map[Format]func(io.Reader) (image.Config, error){
	PNG:  png.DecodeConfig,
	JPEG: jpeg.DecodeConfig,
	GIF:  gif.DecodeConfig,
	WebP: webp.DecodeConfig,
}

// decodeConfig runs f's own DecodeConfig on b, turning a panic into an error.
func decodeConfig(f Format, b []byte) (cfg image.Config, err error) {
	fn := configFuncs[f]
	if fn == nil {
		return image.Config{}, fmt.Errorf("no decoder for %q", f)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return fn(bytes.NewReader(b))
}
