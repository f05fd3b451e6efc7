package imageproc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// MaxFrames bounds the frames of an animated GIF or WebP: every viewer
// decodes all of them. The relay's canvases are still pictures; 1,000 frames
// is over a minute of animation at 15 fps.
const MaxFrames = 1000

// CheckStructure walks the container of b (described by in, which must come
// from Inspect; a zero Info makes it run Inspect with the default Limits)
// and reports the first structural fault as ErrInvalid, with a message
// naming it. It never decodes pixels; its cost is one pass over the bytes
// (for PNG, the CRC-32 of every chunk). What it checks:
//
//	PNG   every chunk's length and CRC-32; IHDR first and agreeing with in;
//	      IDAT present and contiguous; a valid zlib header at the start of
//	      the image data; IEND last, with nothing after it
//	JPEG  the marker walk from SOI to EOI with segment lengths; one frame
//	      header, agreeing with in; at most MaxJPEGScans scans; nothing after
//	      EOI but up to 16 bytes of 0x00/0xFF padding
//	GIF   the block walk to the trailer, nothing after it; every image
//	      descriptor inside the logical screen; 1 to MaxFrames frames
//	WebP  the RIFF size equals len(b); the chunk walk; VP8X, VP8 and VP8L
//	      sizes agreeing with each other and with in; animation frames
//	      inside the canvas, at most MaxFrames
//
// It rejects what Inspect lets through because only the body is broken or
// extended: truncated files, corrupt chunks, data after the end marker (a
// polyglot), a GIF frame outside its screen.
func CheckStructure(b []byte, in Info) error {
	in, err := checkInfo(b, in)
	if err != nil {
		return err
	}
	switch in.Format {
	case PNG:
		err = checkPNG(b, in)
	case JPEG:
		err = checkJPEG(b, in)
	case GIF:
		err = checkGIF(b, in)
	case WebP:
		err = checkWebP(b, in)
	default:
		return newErr(ErrUnsupported, nil, "no structure check for %q", in.Format)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return err
		}
		return newErr(ErrInvalid, nil, "bad %s structure: %v", in.Format, err)
	}
	return nil
}

func checkJPEG(b []byte, in Info) error {
	l, err := walkJPEG(b, true)
	if errors.Is(err, errTooManyScans) {
		return checkJPEGScans(b)
	}
	if err != nil {
		return err
	}
	if l.sof == 0 {
		return errors.New("no frame header")
	}
	if l.scans == 0 {
		return errors.New("no scan")
	}
	if l.width != in.Width || l.height != in.Height {
		return fmt.Errorf("frame header says %dx%d, the header check read %dx%d", l.width, l.height, in.Width, in.Height)
	}
	if rest := b[l.end:]; len(rest) > 0 {
		if len(rest) > maxJPEGPadding {
			return fmt.Errorf("%d bytes after EOI", len(rest))
		}
		for _, c := range rest {
			if c != 0x00 && c != 0xFF {
				return fmt.Errorf("%d bytes after EOI that are not padding", len(rest))
			}
		}
	}
	return nil
}

func checkPNG(b []byte, in Info) error {
	const (
		noIDAT = iota
		inIDAT
		afterIDAT
	)
	be := binary.BigEndian
	state := noIDAT
	var zhdr []byte // the first two bytes of the image data (zlib header)
	for i, k := 8, 0; ; k++ {
		if i == len(b) {
			return errors.New("no IEND chunk: the data ends after the last whole chunk")
		}
		if i+12 > len(b) {
			return fmt.Errorf("chunk at offset %d is cut (%d bytes left, a chunk takes at least 12)", i, len(b)-i)
		}
		n := be.Uint32(b[i:])
		typ := b[i+4 : i+8]
		for _, c := range typ {
			if c < 'A' || c > 'z' || (c > 'Z' && c < 'a') {
				return fmt.Errorf("chunk at offset %d has a bad type %q", i, typ)
			}
		}
		if n > 1<<31-1 || int64(i)+12+int64(n) > int64(len(b)) {
			return fmt.Errorf("%s chunk at offset %d: %d bytes of data run past the end (%d bytes left)", typ, i, n, len(b)-i-12)
		}
		data := b[i+8 : i+8+int(n)]
		if got, want := crc32.ChecksumIEEE(b[i+4:i+8+int(n)]), be.Uint32(b[i+8+int(n):]); got != want {
			return fmt.Errorf("%s chunk at offset %d: CRC-32 %08x, the chunk says %08x", typ, i, got, want)
		}
		name := string(typ)
		if k == 0 {
			if name != "IHDR" || n != 13 {
				return fmt.Errorf("first chunk is %s of %d bytes, want a 13-byte IHDR", typ, n)
			}
			if w, h := be.Uint32(data), be.Uint32(data[4:]); int64(w) != int64(in.Width) || int64(h) != int64(in.Height) {
				return fmt.Errorf("IHDR says %dx%d, the header check read %dx%d", w, h, in.Width, in.Height)
			}
		} else if name == "IHDR" {
			return fmt.Errorf("second IHDR at offset %d", i)
		}
		switch name {
		case "IDAT":
			if state == afterIDAT {
				return fmt.Errorf("IDAT at offset %d after other chunks: image data must be contiguous", i)
			}
			state = inIDAT
			if len(zhdr) < 2 {
				zhdr = append(zhdr, data[:min(len(data), 2-len(zhdr))]...)
			}
		case "IEND":
			if n != 0 {
				return fmt.Errorf("IEND carries %d bytes", n)
			}
			if state == noIDAT {
				return errors.New("no IDAT chunk")
			}
			if err := checkZlibHeader(zhdr); err != nil {
				return err
			}
			if rest := len(b) - (i + 12); rest > 0 {
				return fmt.Errorf("%d bytes after IEND", rest)
			}
			return nil
		default:
			if state == inIDAT {
				state = afterIDAT
			}
		}
		i += 12 + int(n)
	}
}

// checkZlibHeader checks the two bytes that start a PNG's image data: deflate
// with a window of at most 32 KiB, a valid check value, no preset dictionary
// (RFC 1950; the PNG specification forbids one).
func checkZlibHeader(h []byte) error {
	if len(h) < 2 {
		return errors.New("image data too short for a zlib header")
	}
	cmf, flg := h[0], h[1]
	switch {
	case cmf&0x0F != 8:
		return fmt.Errorf("image data is not zlib: compression method %d, want 8 (deflate)", cmf&0x0F)
	case cmf>>4 > 7:
		return fmt.Errorf("image data is not zlib: window size code %d over 7", cmf>>4)
	case (uint16(cmf)<<8|uint16(flg))%31 != 0:
		return fmt.Errorf("image data is not zlib: header check bits %02x%02x", cmf, flg)
	case flg&0x20 != 0:
		return errors.New("image data is zlib with a preset dictionary, which PNG forbids")
	}
	return nil
}

func checkGIF(b []byte, in Info) error {
	le := binary.LittleEndian
	if len(b) < 13 {
		return errors.New("logical screen descriptor is cut")
	}
	sw, sh := int(le.Uint16(b[6:])), int(le.Uint16(b[8:]))
	if sw != in.Width || sh != in.Height {
		return fmt.Errorf("logical screen is %dx%d, the header check read %dx%d", sw, sh, in.Width, in.Height)
	}
	i := 13
	if b[10]&0x80 != 0 {
		i += 3 << (b[10]&7 + 1)
	}
	frames := 0
	// subBlocks skips data sub-blocks from i to past their terminator; false
	// when they run past the end.
	subBlocks := func(i int) (int, bool) {
		for i < len(b) {
			n := int(b[i])
			i++
			if n == 0 {
				return i, true
			}
			i += n
		}
		return 0, false
	}
	for {
		if i >= len(b) {
			return fmt.Errorf("no trailer: the data ends at byte %d", len(b))
		}
		switch b[i] {
		case 0x3B: // trailer
			if frames == 0 {
				return errors.New("no image")
			}
			if rest := len(b) - (i + 1); rest > 0 {
				return fmt.Errorf("%d bytes after the trailer", rest)
			}
			return nil
		case 0x21: // extension: label, then sub-blocks
			if i+2 > len(b) {
				return fmt.Errorf("extension at offset %d is cut", i)
			}
			at, ok := i, false
			if i, ok = subBlocks(i + 2); !ok {
				return fmt.Errorf("extension %#02x at offset %d: data runs past the end with no block terminator", b[at+1], at)
			}
		case 0x2C: // image descriptor
			if i+10 > len(b) {
				return fmt.Errorf("image descriptor at offset %d is cut", i)
			}
			frames++
			if frames > MaxFrames {
				return fmt.Errorf("more than %d frames", MaxFrames)
			}
			x, y := int(le.Uint16(b[i+1:])), int(le.Uint16(b[i+3:]))
			w, h := int(le.Uint16(b[i+5:])), int(le.Uint16(b[i+7:]))
			if w == 0 || h == 0 {
				return fmt.Errorf("frame %d is empty (%dx%d)", frames, w, h)
			}
			if x+w > sw || y+h > sh {
				return fmt.Errorf("frame %d (%dx%d at %d,%d) lies outside the %dx%d logical screen", frames, w, h, x, y, sw, sh)
			}
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&7 + 1)
			}
			if i >= len(b) {
				return fmt.Errorf("frame %d is cut before its image data", frames)
			}
			if lzw := b[i]; lzw < 2 || lzw > 8 {
				return fmt.Errorf("frame %d: LZW code size %d outside 2-8", frames, lzw)
			}
			var ok bool
			if i, ok = subBlocks(i + 1); !ok {
				return fmt.Errorf("frame %d: image data runs past the end with no block terminator", frames)
			}
		default:
			return fmt.Errorf("unknown block %#02x at offset %d", b[i], i)
		}
	}
}
