package imageproc

import (
	"bytes"
	"encoding/binary"
)

// This file holds small, bounded walks over container structure (no pixel
// decoding). Each walk advances by at least one byte per step and never reads
// past the input, so its cost is linear in the input at worst. A malformed
// structure is reported as "has metadata", which sends the input down the
// full decode path, where the decoder rejects it properly.

// hasMetadata reports whether b (of format f) carries metadata that a
// re-encode would strip: EXIF, XMP, text or comments.
func hasMetadata(f Format, b []byte) bool {
	switch f {
	case JPEG:
		_, meta := scanJPEG(b)
		return meta
	case PNG:
		return pngHasMetadata(b)
	case GIF:
		return gifHasMetadata(b)
	case WebP:
		return webpHasMetadata(b)
	}
	return true
}

// scanJPEG walks the marker segments before the first SOS. It returns the
// EXIF orientation (1-8, or 0 when absent or unreadable) and whether any
// metadata segment is present: APP1-APP13, APP15 or COM. APP0 (JFIF) and
// APP14 (Adobe, which selects the colour transform) are not metadata.
func scanJPEG(b []byte) (orientation int, meta bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, true
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return orientation, true // not a marker: malformed
		}
		marker := b[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // SOS or EOI: headers are over
			return orientation, meta
		}
		if marker >= 0xD0 && marker <= 0xD7 || marker == 0x01 { // standalone markers
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return orientation, true
		}
		seg := b[i+4 : i+2+n]
		switch {
		case marker == 0xE1:
			meta = true
			if orientation == 0 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				orientation = exifOrientation(seg[6:])
			}
		case marker >= 0xE2 && marker <= 0xED, marker == 0xEF, marker == 0xFE:
			meta = true
		}
		i += 2 + n
	}
	return orientation, true
}

// exifOrientation reads tag 0x0112 from IFD0 of a TIFF structure. It returns
// 0 unless the tag is present with a value from 1 to 8.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	p := int(off) + 2
	for k := 0; k < n && p+12 <= len(t); k, p = k+1, p+12 {
		e := t[p : p+12]
		if bo.Uint16(e) != 0x0112 {
			continue
		}
		if bo.Uint16(e[2:]) != 3 || bo.Uint32(e[4:]) != 1 { // SHORT, count 1
			return 0
		}
		if v := int(bo.Uint16(e[8:])); v >= 1 && v <= 8 {
			return v
		}
		return 0
	}
	return 0
}

// pngHasMetadata walks the chunks looking for text, time and EXIF chunks.
func pngHasMetadata(b []byte) bool {
	i := 8
	for i+12 <= len(b) {
		n := int64(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		switch typ {
		case "tEXt", "zTXt", "iTXt", "eXIf", "tIME":
			return true
		case "IEND":
			return false
		}
		next := int64(i) + 12 + n
		if next > int64(len(b)) {
			return true
		}
		i = int(next)
	}
	return true
}

// webpHasMetadata reports the EXIF and XMP flags of a VP8X header (simple
// VP8 and VP8L files cannot carry metadata).
func webpHasMetadata(b []byte) bool {
	if len(b) < 16 {
		return true
	}
	if string(b[12:16]) != "VP8X" {
		return false
	}
	if len(b) < 21 {
		return true
	}
	const exifBit, xmpBit = 1 << 3, 1 << 2
	return b[20]&(exifBit|xmpBit) != 0
}

// gifHasMetadata walks the blocks looking for comment extensions and
// application extensions other than the looping ones.
func gifHasMetadata(b []byte) bool {
	if len(b) < 13 {
		return true
	}
	i := 13
	if b[10]&0x80 != 0 {
		i += 3 << (b[10]&7 + 1)
	}
	skipSubBlocks := func(i int) int {
		for i < len(b) {
			n := int(b[i])
			i++
			if n == 0 {
				return i
			}
			i += n
		}
		return -1
	}
	for i < len(b) {
		switch b[i] {
		case 0x3B: // trailer
			return false
		case 0x21: // extension
			if i+2 > len(b) {
				return true
			}
			label := b[i+1]
			if label == 0xFE {
				return true
			}
			if label == 0xFF {
				if i+14 > len(b) {
					return true
				}
				id := string(b[i+3 : i+14])
				if id != "NETSCAPE2.0" && id != "ANIMEXTS1.0" {
					return true
				}
			}
			if i = skipSubBlocks(i + 2); i < 0 {
				return true
			}
		case 0x2C: // image descriptor
			if i+10 > len(b) {
				return true
			}
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&7 + 1)
			}
			i++ // LZW minimum code size
			if i > len(b) {
				return true
			}
			if i = skipSubBlocks(i); i < 0 {
				return true
			}
		default:
			return true
		}
	}
	return true
}
