package imageproc

import (
	"bytes"
	"encoding/binary"
)

// This file holds small, bounded walks over container structure (no pixel
// decoding). Each walk advances by at least one byte per step and never reads
// past the input, so its cost is linear in the input at worst. Stripping
// metadata from bytes that pass through is in clean.go.

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
