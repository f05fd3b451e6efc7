package imageproc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// scanBomb returns testdata/scanbomb-4096x4096.jpg cut to its first n scans
// (each scan is a 10-byte SOS segment and 30 bytes of EOB runs), then EOI.
func scanBomb(tb testing.TB, n int) []byte {
	tb.Helper()
	b := readTestdata(tb, "scanbomb-4096x4096.jpg")
	first := bytes.Index(b, []byte{0xFF, 0xDA})
	return append(bytes.Clone(b[:first+40*n]), 0xFF, 0xD9)
}

func TestJPEGScanLimit(t *testing.T) {
	for _, tc := range []struct {
		scans int
		ok    bool
	}{{1, true}, {MaxJPEGScans, true}, {MaxJPEGScans + 1, false}, {2900, false}} {
		b := scanBomb(t, tc.scans)
		l, err := walkJPEG(b, true)
		if tc.ok {
			if err != nil || l.scans != tc.scans || l.end != len(b) || l.width != 4096 || l.height != 4096 {
				t.Errorf("%d scans: walk = %+v, %v; want %d scans, end %d, 4096x4096", tc.scans, l, err, tc.scans, len(b))
			}
		}
		_, err = Inspect(b, Limits{})
		if got := err == nil; got != tc.ok {
			t.Fatalf("%d scans: Inspect = %v, want accepted %v", tc.scans, err, tc.ok)
		}
		if !tc.ok && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "scans")) {
			t.Errorf("%d scans: got %v, want ErrInvalid naming the scans", tc.scans, err)
		}
	}
}

// Reencode and Verify count scans before decoding even when the caller
// hands them an Info (and so skips Inspect).
func TestScanBombNeverDecoded(t *testing.T) {
	b := readTestdata(t, "scanbomb-4096x4096.jpg")
	in := Info{Format: JPEG, Width: 4096, Height: 4096, Bytes: len(b)}
	t0 := time.Now()
	if err := Verify(b, in); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify = %v, want ErrInvalid", err)
	}
	if _, err := Reencode(b, in, Options{MaxWidth: 64}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Reencode = %v, want ErrInvalid", err)
	}
	if d := time.Since(t0); d > 2*time.Second { // a decode takes ~20 s
		t.Errorf("refusing took %s: something decoded", d)
	}
}

// The lenient walk (Inspect's) resynchronises on stray bytes the way
// image/jpeg does, so junk between segments cannot hide scans from it.
func TestJPEGScanCountSeesThroughJunk(t *testing.T) {
	b := scanBomb(t, MaxJPEGScans+1)
	first := bytes.Index(b, []byte{0xFF, 0xDA})
	junk := append(bytes.Clone(b[:first]), 0x12, 0x34, 0x56)
	junk = append(junk, b[first:]...)
	if _, err := walkJPEG(junk, true); err == nil || errors.Is(err, errTooManyScans) {
		t.Errorf("strict walk: got %v, want a stray-byte error", err)
	}
	if _, err := Inspect(junk, Limits{}); !errors.Is(err, errTooManyScans) {
		t.Errorf("Inspect = %v, want the scan limit", err)
	}
}
