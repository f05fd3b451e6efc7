package imageproc

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Fuzz targets. Seeds are every file in ../testdata. Run one briefly with
//
//	go test ./imageproc -run '^$' -fuzz FuzzInspect -fuzztime 30s -parallel 1
//
// Both targets check that there is no panic (a recovered one shows up as
// "panic" in the error), that every error maps to a contract code, and that
// the heap bytes allocated by one call stay within the limits' budget.

var fuzzLimits = Limits{MaxBytes: 256 << 10, MaxPixels: 512 * 512}

func addTestdataSeeds(f *testing.F, add func(b []byte)) {
	f.Helper()
	entries, err := os.ReadDir(filepath.Join("..", "testdata"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("..", "testdata", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > fuzzLimits.MaxBytes { // the 1080p sample: keep its header only
			b = b[:4096]
		}
		add(b)
	}
}

// allocated returns the heap bytes allocated while f ran (by any goroutine,
// so it over-counts a little, never under-counts).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	switch e.Code {
	case CodeInvalidImage, CodeUnsupportedFormat, CodeTooLarge, CodeTooManyPixels:
	default:
		t.Fatalf("error code %q is not a contract code", e.Code)
	}
	if strings.Contains(err.Error(), "panic") {
		t.Fatalf("recovered panic: %v", err)
	}
}

func FuzzInspect(f *testing.F) {
	addTestdataSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, b []byte) {
		var info Info
		var err error
		n := allocated(func() { info, err = Inspect(b, fuzzLimits) })
		if limit := uint64(len(b)) + 256<<10; n > limit {
			t.Fatalf("Inspect allocated %d bytes for a %d-byte input, want <= %d", n, len(b), limit)
		}
		if err != nil {
			checkErr(t, err)
			return
		}
		if f, ok := Sniff(b); !ok || f != info.Format {
			t.Fatalf("info format %q, Sniff says %q, %v", info.Format, f, ok)
		}
		if info.Width <= 0 || info.Height <= 0 || int64(info.Width)*int64(info.Height) > fuzzLimits.MaxPixels || info.Bytes != len(b) {
			t.Fatalf("Inspect accepted %+v beyond the limits", info)
		}
	})
}

func FuzzReencode(f *testing.F) {
	addTestdataSeeds(f, func(b []byte) {
		f.Add(b, uint16(0), uint16(0), uint8(0), uint8(0))
		f.Add(b, uint16(32), uint16(32), uint8(1), uint8(50))
		f.Add(b, uint16(17), uint16(0), uint8(2), uint8(80))
		f.Add(b, uint16(0), uint16(5), uint8(3), uint8(100))
	})
	formats := []OutputFormat{OutputAuto, OutputPNG, OutputJPEG, OutputOriginal}
	f.Fuzz(func(t *testing.T, b []byte, maxW, maxH uint16, format, quality uint8) {
		in, err := Inspect(b, fuzzLimits)
		if err != nil {
			return
		}
		opt := Options{
			MaxWidth:  int(maxW % 1024),
			MaxHeight: int(maxH % 1024),
			Format:    formats[int(format)%len(formats)],
			Quality:   int(quality % 101),
		}
		var res Result
		n := allocated(func() { res, err = Reencode(b, in, opt) })
		if limit := uint64(MemoryCost(in, opt)) + 8<<20; n > limit {
			t.Fatalf("Reencode of %+v allocated %d bytes, want <= %d", in, n, limit)
		}
		if err != nil {
			checkErr(t, err)
			return
		}
		if res.Passthrough {
			// The input itself, or a copy stripped of metadata and of what
			// followed its end marker, which CheckStructure accepts when
			// it accepted the input.
			want := in
			want.Bytes = len(res.Bytes)
			if res.Info != want || len(res.Bytes) > len(b) {
				t.Fatalf("passthrough returned %+v, want the input %+v", res.Info, in)
			}
			if &res.Bytes[0] != &b[0] && CheckStructure(b, in) == nil {
				if err := CheckStructure(res.Bytes, res.Info); err != nil {
					t.Fatalf("stripped passthrough fails the structure check: %v", err)
				}
			}
			return
		}
		if opt.MaxWidth > 0 && res.Info.Width > opt.MaxWidth || opt.MaxHeight > 0 && res.Info.Height > opt.MaxHeight {
			t.Fatalf("output %dx%d outside the box %dx%d", res.Info.Width, res.Info.Height, opt.MaxWidth, opt.MaxHeight)
		}
		out, err := Inspect(res.Bytes, Limits{})
		if err != nil || out != res.Info {
			t.Fatalf("Inspect(output) = %+v, %v, want %+v", out, err, res.Info)
		}
		if out.Format != PNG && out.Format != JPEG {
			t.Fatalf("re-encoded to %q, want png or jpeg", out.Format)
		}
		if err := Verify(res.Bytes, out); err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		if err := CheckStructure(res.Bytes, out); err != nil {
			t.Fatalf("output fails the structure check: %v", err)
		}
	})
}

// FuzzStructure drives CheckStructure. Beyond no panic, contract codes only
// and a small allocation budget, it checks the promise that --verify
// structure makes to --verify full: any input that Inspect and
// CheckStructure accept can be fully decoded without a panic (an error is
// fine: corrupt entropy-coded data is not a structural fault).
func FuzzStructure(f *testing.F) {
	addTestdataSeeds(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := Inspect(b, fuzzLimits)
		if err != nil {
			return
		}
		n := allocated(func() { err = CheckStructure(b, info) })
		if n > 64<<10 {
			t.Fatalf("CheckStructure allocated %d bytes for a %d-byte input, want <= 64 KiB", n, len(b))
		}
		if err != nil {
			checkErr(t, err)
			return
		}
		if err := Verify(b, info); err != nil {
			checkErr(t, err) // fails on a recovered decoder panic
		}
	})
}
