package imageproc

import "encoding/binary"

// cleanBytes returns b (of format f) as a pass-through may send it: without
// what follows its end marker (a polyglot's second file, padding) and
// without the metadata chunks a re-encode would drop (PNG text, time and
// eXIf chunks; JPEG APP1-APP13, APP15 and COM segments; GIF comments and
// application extensions other than looping; WebP EXIF and XMP chunks). It
// returns b itself when there is nothing to strip, and a new slice
// otherwise. ok is false when the container cannot be walked; the caller
// then takes the decode path, which re-encodes or refuses.
func cleanBytes(f Format, b []byte) (out []byte, ok bool) {
	switch f {
	case PNG:
		return cleanPNG(b)
	case JPEG:
		return cleanJPEG(b)
	case GIF:
		return cleanGIF(b)
	case WebP:
		return cleanWebP(b)
	}
	return nil, false
}

// keepRanges returns b when ranges cover it whole, or the concatenation of
// ranges ([start, end) pairs in order).
func keepRanges(b []byte, ranges [][2]int) []byte {
	n := 0
	for _, r := range ranges {
		n += r[1] - r[0]
	}
	if n == len(b) {
		return b
	}
	out := make([]byte, 0, n)
	for _, r := range ranges {
		out = append(out, b[r[0]:r[1]]...)
	}
	return out
}

// addRange appends [s, e) to ranges, merging it with the last one when they
// touch, so that ranges stay few.
func addRange(ranges [][2]int, s, e int) [][2]int {
	if k := len(ranges) - 1; k >= 0 && ranges[k][1] == s {
		ranges[k][1] = e
		return ranges
	}
	return append(ranges, [2]int{s, e})
}

func cleanPNG(b []byte) ([]byte, bool) {
	ranges := [][2]int{{0, 8}}
	for i := 8; i+12 <= len(b); {
		n := int64(binary.BigEndian.Uint32(b[i:]))
		end := int64(i) + 12 + n
		if end > int64(len(b)) {
			return nil, false
		}
		switch string(b[i+4 : i+8]) {
		case "tEXt", "zTXt", "iTXt", "eXIf", "tIME":
		case "IEND":
			return keepRanges(b, addRange(ranges, i, int(end))), true
		default:
			ranges = addRange(ranges, i, int(end))
		}
		i = int(end)
	}
	return nil, false
}

func cleanJPEG(b []byte) ([]byte, bool) {
	l, err := walkJPEG(b, true)
	if err != nil {
		return nil, false
	}
	ranges := [][2]int{{0, 2}}
	for i := 2; i+4 <= l.end; {
		m := b[i+1]
		if b[i] != 0xFF || m == 0xDA || m == 0xD9 || m == 0xFF || m >= 0xD0 && m <= 0xD7 || m == 0x01 {
			// The first scan (or anything the strict walk allowed that is
			// not a header segment): keep the rest up to EOI.
			return keepRanges(b, addRange(ranges, i, l.end)), true
		}
		end := i + 2 + int(binary.BigEndian.Uint16(b[i+2:]))
		if !(m >= 0xE1 && m <= 0xED || m == 0xEF || m == 0xFE) {
			ranges = addRange(ranges, i, end)
		}
		i = end
	}
	return keepRanges(b, addRange(ranges, 2, l.end)), true
}

func cleanGIF(b []byte) ([]byte, bool) {
	if len(b) < 13 {
		return nil, false
	}
	i := 13
	if b[10]&0x80 != 0 {
		i += 3 << (b[10]&7 + 1)
	}
	ranges := [][2]int{{0, min(i, len(b))}}
	sub := func(i int) int {
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
		start := i
		switch b[i] {
		case 0x3B:
			return keepRanges(b, addRange(ranges, i, i+1)), true
		case 0x21:
			if i+2 > len(b) {
				return nil, false
			}
			keep := true
			switch b[i+1] {
			case 0xFE:
				keep = false
			case 0xFF:
				keep = i+14 <= len(b) && (string(b[i+3:i+14]) == "NETSCAPE2.0" || string(b[i+3:i+14]) == "ANIMEXTS1.0")
			}
			if i = sub(i + 2); i < 0 {
				return nil, false
			}
			if keep {
				ranges = addRange(ranges, start, i)
			}
		case 0x2C:
			if i+10 > len(b) {
				return nil, false
			}
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&7 + 1)
			}
			if i++; i > len(b) {
				return nil, false
			}
			if i = sub(i); i < 0 {
				return nil, false
			}
			ranges = addRange(ranges, start, i)
		default:
			return nil, false
		}
	}
	return nil, false
}

func cleanWebP(b []byte) ([]byte, bool) {
	le := binary.LittleEndian
	if len(b) < 12 {
		return nil, false
	}
	size := int64(le.Uint32(b[4:])) + 8
	if size > int64(len(b)) || size < 12 {
		return nil, false
	}
	riff := b[:size] // what follows the RIFF data goes
	ranges := [][2]int{{0, 12}}
	for i := 12; i < len(riff); {
		if i+8 > len(riff) {
			return nil, false
		}
		n := int64(le.Uint32(riff[i+4:]))
		end := int64(i) + 8 + n
		if n%2 == 1 && end < int64(len(riff)) {
			end++ // padding byte (a last one may be missing)
		}
		if end > int64(len(riff)) {
			return nil, false
		}
		if fcc := string(riff[i : i+4]); fcc != "EXIF" && fcc != "XMP " {
			ranges = addRange(ranges, i, int(end))
		}
		i = int(end)
	}
	out := keepRanges(b, ranges)
	if len(out) == len(b) {
		return b, true
	}
	// out is a new slice: fix its RIFF size and the VP8X metadata flags.
	le.PutUint32(out[4:], uint32(len(out)-8))
	if len(out) >= 21 && string(out[12:16]) == "VP8X" {
		const exifBit, xmpBit = 1 << 3, 1 << 2
		out[20] &^= exifBit | xmpBit
	}
	return out, true
}
