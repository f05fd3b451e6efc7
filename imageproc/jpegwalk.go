package imageproc

import (
	"bytes"
	"errors"
	"fmt"
)

// MaxJPEGScans bounds the scans (SOS markers) of one JPEG. A decoder visits
// every block of a scan's components once per scan, whatever the scan holds,
// so a progressive JPEG of a few kilobytes made of thousands of scans of "EOB
// runs" costs seconds of CPU (image/jpeg: about 7.5 ms per scan of a
// 4096x4096 grey picture). Encoders write 1 scan per component (baseline) or
// about 10 (libjpeg's and mozjpeg's progressive scripts). libjpeg-turbo has
// no default limit: its TurboJPEG API refuses more than 500 scans under
// TJFLAG_LIMITSCANS (turbojpeg.c), and its own decompression fuzz target sets
// TJPARAM_SCANLIMIT to 100 (fuzz/decompress.cc). We take that 100.
const MaxJPEGScans = 100

// maxJPEGPadding is how many 0x00 or 0xFF bytes may follow the EOI marker
// (some writers pad files to an even or word length).
const maxJPEGPadding = 16

// errTooManyScans is the cause of the ErrInvalid returned for a JPEG with
// more than MaxJPEGScans scans.
var errTooManyScans = errors.New("too many scans")

// jpegLayout is what a marker walk learned about a JPEG.
type jpegLayout struct {
	sof           byte // the first frame marker (0xC0-0xCF), 0 when none
	width, height int  // from the first frame header
	comps         []jpegComp
	scans         int
	end           int // offset just past EOI; -1 when the walk did not reach it
}

// jpegComp is one component of a frame header: its sampling factors.
type jpegComp struct{ h, v int }

func isSOF(m byte) bool { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC }

// walkJPEG walks the marker segments of b from SOI to EOI, following segment
// lengths and skipping each scan's entropy-coded data to the next marker
// (stuffed 0xFF00 bytes, RSTn markers and fill bytes are part of the data).
// It never decodes. It counts scans and stops with errTooManyScans as soon
// as there are more than MaxJPEGScans.
//
// strict reports the first structural fault: bytes where a marker should
// be, a segment running past the end, a second SOI or frame header, a scan
// before the frame header, no EOI. Not strict, it resynchronises on stray
// bytes the way image/jpeg does (it skips to the next 0xFF) and stops quietly
// where the data ends, so that the scan count it returns is never below
// what the decoder would process. The cost is linear in len(b).
func walkJPEG(b []byte, strict bool) (l jpegLayout, err error) {
	l.end = -1
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return l, errors.New("no SOI marker")
	}
	fail := func(format string, args ...any) (jpegLayout, error) {
		if !strict {
			return l, nil
		}
		return l, fmt.Errorf(format, args...)
	}
	i := 2
	for {
		if i >= len(b) {
			return fail("no EOI marker: the data ends at byte %d", len(b))
		}
		if b[i] != 0xFF {
			if strict {
				return l, fmt.Errorf("byte %#02x at offset %d where a marker should be", b[i], i)
			}
			k := bytes.IndexByte(b[i:], 0xFF)
			if k < 0 {
				return l, nil
			}
			i += k
			continue
		}
		for i+1 < len(b) && b[i+1] == 0xFF { // fill bytes
			i++
		}
		if i+1 >= len(b) {
			return fail("no EOI marker: the data ends inside a marker")
		}
		m := b[i+1]
		switch {
		case m == 0xD9: // EOI
			l.end = i + 2
			return l, nil
		case m == 0x00:
			if strict {
				return l, fmt.Errorf("0xFF00 at offset %d outside a scan", i)
			}
			i += 2
			continue
		case m == 0xD8:
			if strict {
				return l, fmt.Errorf("second SOI marker at offset %d", i)
			}
			i += 2
			continue
		case m >= 0xD0 && m <= 0xD7, m == 0x01: // RSTn, TEM: no length
			i += 2
			continue
		}
		if i+4 > len(b) {
			return fail("marker %#02x at offset %d: its length is cut", m, i)
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		end := i + 2 + n
		if n < 2 {
			return fail("marker %#02x at offset %d: bad length %d", m, i, n)
		}
		if end > len(b) {
			return fail("marker %#02x at offset %d: %d-byte segment runs past the end (%d bytes left)", m, i, n, len(b)-i-2)
		}
		seg := b[i+4 : end]
		switch {
		case isSOF(m):
			if l.sof != 0 {
				if strict {
					return l, fmt.Errorf("second frame header at offset %d", i)
				}
				break
			}
			if len(seg) < 6 || len(seg) < 6+3*int(seg[5]) {
				return fail("frame header at offset %d is cut", i)
			}
			l.sof = m
			l.height = int(seg[1])<<8 | int(seg[2])
			l.width = int(seg[3])<<8 | int(seg[4])
			for c := range int(seg[5]) {
				s := seg[6+3*c+1]
				l.comps = append(l.comps, jpegComp{h: int(s >> 4), v: int(s & 15)})
			}
		case m == 0xDA: // SOS, then entropy-coded data up to the next marker
			l.scans++
			if l.scans > MaxJPEGScans {
				return l, errTooManyScans
			}
			if strict && l.sof == 0 {
				return l, fmt.Errorf("scan at offset %d before the frame header", i)
			}
			j, ok := skipEntropy(b, end)
			if !ok {
				return fail("scan %d (offset %d): its data runs to the end with no EOI marker (truncated)", l.scans, i)
			}
			i = j
			continue
		}
		i = end
	}
}

// skipEntropy returns the offset of the marker that ends the entropy-coded
// data starting at i, and false when the data runs to the end.
func skipEntropy(b []byte, i int) (int, bool) {
	for {
		k := bytes.IndexByte(b[i:], 0xFF)
		if k < 0 {
			return 0, false
		}
		i += k
		if i+1 >= len(b) {
			return 0, false
		}
		switch nx := b[i+1]; {
		case nx == 0x00, nx >= 0xD0 && nx <= 0xD7: // stuffed byte, restart marker
			i += 2
		case nx == 0xFF: // fill byte before a marker
			i++
		default:
			return i, true
		}
	}
}

// checkJPEGScans refuses a JPEG with more than MaxJPEGScans scans. It
// walks the markers leniently (as image/jpeg reads them), never decoding.
func checkJPEGScans(b []byte) error {
	_, err := jpegScans(b)
	return err
}

// jpegScans is checkJPEGScans, also returning what the walk learned.
func jpegScans(b []byte) (jpegLayout, error) {
	l, err := walkJPEG(b, false)
	if errors.Is(err, errTooManyScans) {
		return l, newErr(ErrInvalid, err, "jpeg has more than %d scans (SOS markers); no encoder writes that many, and each one costs a pass over the whole picture", MaxJPEGScans)
	}
	return l, nil
}
