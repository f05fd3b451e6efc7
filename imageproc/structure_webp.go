package imageproc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkWebP walks a RIFF WebP: the RIFF size must be the message's, the
// chunks must tile it exactly (odd-sized chunks are padded to even), and
// the sizes of VP8X, VP8 and VP8L must agree with each other and with in.
func checkWebP(b []byte, in Info) error {
	le := binary.LittleEndian
	if len(b) < 20 {
		return fmt.Errorf("%d bytes: too short for a RIFF header and a chunk", len(b))
	}
	if size := int64(le.Uint32(b[4:])); size+8 != int64(len(b)) {
		return fmt.Errorf("RIFF size says %d bytes in all, the message has %d", size+8, len(b))
	}
	// The chunks are checked as the walk meets them, never collected.
	var (
		flags          byte // VP8X flags; 0 for a simple file
		cw, ch         = in.Width, in.Height
		images, frames int
	)
	const animation = 0x02
	for i, k := 12, 0; i < len(b); k++ {
		if i+8 > len(b) {
			return fmt.Errorf("chunk header at offset %d is cut", i)
		}
		fourcc := string(b[i : i+4])
		n := int64(le.Uint32(b[i+4:]))
		end := int64(i) + 8 + n
		if end > int64(len(b)) {
			return fmt.Errorf("chunk %q at offset %d: %d bytes of data run past the end", fourcc, i, n)
		}
		d := b[i+8 : end]
		if n%2 == 1 && end < int64(len(b)) {
			end++ // padding byte
		}
		at := i
		i = int(end)
		if k == 0 {
			switch fourcc {
			case "VP8 ", "VP8L":
				if i != len(b) {
					return fmt.Errorf("simple %q file with more chunks after it (they need a VP8X header)", fourcc)
				}
				return checkWebPImage(fourcc, d, cw, ch)
			case "VP8X":
			default:
				return fmt.Errorf("first chunk is %q, want VP8, VP8L or VP8X", fourcc)
			}
			if len(d) != 10 {
				return fmt.Errorf("VP8X chunk of %d bytes, want 10", len(d))
			}
			flags = d[0]
			if w, h := 1+u24(d[4:]), 1+u24(d[7:]); w != in.Width || h != in.Height {
				return fmt.Errorf("VP8X canvas is %dx%d, the header check read %dx%d", w, h, in.Width, in.Height)
			}
			continue
		}
		switch fourcc {
		case "VP8X":
			return fmt.Errorf("second VP8X chunk at offset %d", at)
		case "VP8 ", "VP8L":
			if flags&animation != 0 {
				return fmt.Errorf("%q chunk at offset %d outside a frame of an animation", fourcc, at)
			}
			images++
			if images > 1 {
				return fmt.Errorf("second image chunk at offset %d", at)
			}
			if err := checkWebPImage(fourcc, d, cw, ch); err != nil {
				return err
			}
		case "ANMF":
			if flags&animation == 0 {
				return fmt.Errorf("ANMF chunk at offset %d, but VP8X does not announce an animation", at)
			}
			frames++
			if frames > MaxFrames {
				return fmt.Errorf("more than %d frames", MaxFrames)
			}
			if len(d) < 16 {
				return fmt.Errorf("frame %d: ANMF chunk of %d bytes is cut", frames, len(d))
			}
			x, y := 2*u24(d), 2*u24(d[3:])
			w, h := 1+u24(d[6:]), 1+u24(d[9:])
			if x+w > cw || y+h > ch {
				return fmt.Errorf("frame %d (%dx%d at %d,%d) lies outside the %dx%d canvas", frames, w, h, x, y, cw, ch)
			}
		}
	}
	if flags&animation != 0 {
		if frames == 0 {
			return errors.New("animation with no frame")
		}
		return nil
	}
	if images == 0 {
		return errors.New("no VP8 or VP8L image chunk")
	}
	return nil
}

// u24 reads a 24-bit little-endian number.
func u24(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 }

// checkWebPImage checks the header of a VP8 (lossy) or VP8L (lossless)
// bitstream and that it describes a w x h picture.
func checkWebPImage(fourcc string, d []byte, w, h int) error {
	var gw, gh int
	switch fourcc {
	case "VP8 ":
		if len(d) < 10 {
			return fmt.Errorf("VP8 chunk of %d bytes is cut", len(d))
		}
		tag := int(d[0]) | int(d[1])<<8 | int(d[2])<<16
		if tag&1 != 0 {
			return errors.New("VP8 frame is not a key frame")
		}
		if part := tag >> 5; part > len(d)-10 {
			return fmt.Errorf("VP8 first partition of %d bytes runs past the chunk (%d bytes)", part, len(d))
		}
		if d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a {
			return errors.New("VP8 start code missing")
		}
		gw = int(binary.LittleEndian.Uint16(d[6:])) & 0x3fff
		gh = int(binary.LittleEndian.Uint16(d[8:])) & 0x3fff
	case "VP8L":
		if len(d) < 5 {
			return fmt.Errorf("VP8L chunk of %d bytes is cut", len(d))
		}
		if d[0] != 0x2f {
			return fmt.Errorf("VP8L signature %#02x, want 0x2f", d[0])
		}
		bits := binary.LittleEndian.Uint32(d[1:])
		if bits>>29 != 0 {
			return fmt.Errorf("VP8L version %d, want 0", bits>>29)
		}
		gw, gh = 1+int(bits&0x3fff), 1+int(bits>>14&0x3fff)
	}
	if gw != w || gh != h {
		return fmt.Errorf("%s bitstream is %dx%d, the canvas %dx%d", fourcc, gw, gh, w, h)
	}
	return nil
}
