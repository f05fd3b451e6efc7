package imageproc

import "encoding/binary"

// codecState covers decoder and encoder tables and zlib/flate state (about
// 1.3 MiB for PNG).
const codecState = 2 << 20

// MemoryCost estimates the peak bytes Reencode may allocate for an input
// described by in (from Inspect): what the decoder allocates
// (in.DecodeBytes: by bit depth, Adam7 passes, JPEG components and
// progressive coefficients), one 4-byte-a-pixel copy (format conversion,
// flattening), when the box may shrink the picture the horizontal
// intermediate of a resize (4 bytes a pixel) and the resized picture with
// one copy (rotation, flattening), otherwise for JPEG one copy turned by its
// EXIF orientation, the encoded input, and 2 MiB of codec state. Use it as
// the cost of a Pool job. With in.DecodeBytes unknown (0) it assumes 4
// bytes a pixel, plus 12 for a JPEG's coefficients.
func MemoryCost(in Info, opt Options) int64 {
	w, h := int64(in.Width), int64(in.Height)
	// The box applies to the upright picture, and EXIF may turn it: take the
	// larger of the two fits, in stored orientation.
	aw, ah := fitBox(in.Width, in.Height, opt.MaxWidth, opt.MaxHeight)
	uw, uh := fitBox(in.Height, in.Width, opt.MaxWidth, opt.MaxHeight)
	tw, th := int64(max(aw, uh)), int64(max(ah, uw))
	mayResize := aw != in.Width || ah != in.Height ||
		in.Format == JPEG && (uw != in.Height || uh != in.Width)
	dec := in.DecodeBytes
	if dec <= 0 {
		dec = 4 * w * h
		if in.Format == JPEG {
			dec += 12 * w * h
		}
	}
	cost := dec + 4*w*h + int64(in.Bytes) + codecState
	switch {
	case mayResize:
		cost += 4*tw*h + 8*tw*th
	case in.Format == JPEG:
		cost += 4 * w * h
	}
	return cost
}

// infoOf describes b, an image this package encoded as f, w x h.
func infoOf(f Format, b []byte, w, h int) Info {
	var jl *jpegLayout
	if f == JPEG {
		if l, err := walkJPEG(b, false); err == nil {
			jl = &l
		}
	}
	return Info{Format: f, Width: w, Height: h, Bytes: len(b), DecodeBytes: decodeBytes(f, b, w, h, jl)}
}

// decodeBytes is what f's decoder (image/png, image/jpeg, image/gif,
// x/image/webp) allocates for a w x h image b, read from its header; 0 when
// the header cannot say. jl is the JPEG's marker walk.
func decodeBytes(f Format, b []byte, w, h int, jl *jpegLayout) int64 {
	px := int64(w) * int64(h)
	switch f {
	case PNG:
		return pngDecodeBytes(b, w, h)
	case JPEG:
		if jl == nil {
			return 0
		}
		return jpegDecodeBytes(*jl, w, h)
	case GIF:
		// The first frame as *image.Paletted, drawn on an NRGBA screen
		// when it covers part of it (Verify, Reencode).
		return 5 * px
	case WebP:
		// Lossy: 4:2:0 YCbCr and alpha (2.5 bytes a pixel) with the
		// decoder's own buffers; lossless: NRGBA and its transform buffers.
		if webpLossless(b) {
			return 8 * px
		}
		return 4 * px
	}
	return 0
}

// webpLossless reports whether a RIFF WebP holds a VP8L chunk (at its top
// level: a still image, simple or extended).
func webpLossless(b []byte) bool {
	for i := 12; i+8 <= len(b); {
		if string(b[i:i+4]) == "VP8L" {
			return true
		}
		n := int64(binary.LittleEndian.Uint32(b[i+4:]))
		next := int64(i) + 8 + n + n&1
		if next > int64(len(b)) {
			return false
		}
		i = int(next)
	}
	return false
}

// pngDecodeBytes follows image/png: the picture type by colour type, bit
// depth and tRNS (Gray 1, Gray16 2, RGBA/NRGBA 4, RGBA64/NRGBA64 8,
// Paletted 1 bytes a pixel); an Adam7 image decodes each pass into an image
// of its own before merging them into the final one (twice the picture);
// two rows of filter state.
func pngDecodeBytes(b []byte, w, h int) int64 {
	if len(b) < 33 {
		return 0
	}
	depth, ctype, interlace := b[24], b[25], b[28]
	trns := false
	for i := 33; i+8 <= len(b); { // chunks before the image data
		n := int64(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if typ == "IDAT" {
			break
		}
		if typ == "tRNS" {
			trns = true
		}
		next := int64(i) + 12 + n
		if next > int64(len(b)) {
			break
		}
		i = int(next)
	}
	var bpp, channels int64
	wide := depth == 16
	switch ctype {
	case 0: // grey
		bpp, channels = 1, 1
		if wide {
			bpp = 2
		}
		if trns {
			bpp = 4
			if wide {
				bpp = 8
			}
		}
	case 3: // paletted
		bpp, channels = 1, 1
	case 2, 4, 6: // RGB, grey+alpha, RGBA
		bpp, channels = 4, 3
		if ctype == 4 {
			channels = 2
		} else if ctype == 6 {
			channels = 4
		}
		if wide {
			bpp = 8
		}
	default:
		return 0
	}
	px := int64(w) * int64(h)
	cost := bpp * px
	if interlace == 1 {
		cost *= 2
	}
	row := 1 + (int64(w)*channels*int64(depth)+7)/8
	return cost + 2*row
}

// jpegDecodeBytes follows image/jpeg: one byte per sample of each component
// plane, padded to whole MCUs; a CMYK (4-component) image is also
// converted to a 4-byte-a-pixel *image.CMYK; a progressive image keeps
// every block's 64 coefficients as int32 (4 bytes per sample) until the
// end.
func jpegDecodeBytes(l jpegLayout, w, h int) int64 {
	if len(l.comps) == 0 {
		return 0
	}
	hmax, vmax := 1, 1
	for _, c := range l.comps {
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	mxx := int64((w + 8*hmax - 1) / (8 * hmax))
	myy := int64((h + 8*vmax - 1) / (8 * vmax))
	var samples int64
	for _, c := range l.comps {
		samples += mxx * 8 * int64(c.h) * myy * 8 * int64(c.v)
	}
	cost := samples
	if len(l.comps) == 4 {
		cost += 4 * int64(w) * int64(h)
	}
	if l.sof == 0xC2 { // progressive
		cost += 4 * samples
	}
	return cost
}
