package imageproc

import (
	"bytes"
	"hash/crc32"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
	"time"

	"github.com/disintegration/imaging"
)

// The benchmark: a 1920x1080 canvas-like PNG to a 1280x720 JPEG at
// quality 80. BenchmarkReencode1080p/naive is the straightforward imaging
// pipeline the package replaces; compare frames per second (ns/op).
//
//	go test ./imageproc -run '^$' -bench 'Reencode1080p|Passthrough' -benchtime=5x
func BenchmarkReencode1080p(b *testing.B) {
	src := readTestdata(b, "canvas-1920x1080.png")
	b.Run("naive", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			if _, err := naiveReencode(src, 1280, 720); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("imageproc", func(b *testing.B) {
		in, err := Inspect(src, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		opt := Options{MaxWidth: 1280, MaxHeight: 720, Format: OutputJPEG, Quality: 80}
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			res, err := Reencode(src, in, opt)
			if err != nil {
				b.Fatal(err)
			}
			if res.Info.Width != 1280 || res.Info.Height != 720 {
				b.Fatalf("got %dx%d, want 1280x720", res.Info.Width, res.Info.Height)
			}
		}
	})
}

// BenchmarkReencode1080pRatio alternates the two paths inside one loop, so
// that load from other processes hits both alike, and reports the speedup
// (naive time / imageproc time) as a metric.
func BenchmarkReencode1080pRatio(b *testing.B) {
	src := readTestdata(b, "canvas-1920x1080.png")
	in, err := Inspect(src, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	opt := Options{MaxWidth: 1280, MaxHeight: 720, Format: OutputJPEG, Quality: 80}
	var naive, ours time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := naiveReencode(src, 1280, 720); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := Reencode(src, in, opt); err != nil {
			b.Fatal(err)
		}
		naive += t1.Sub(t0)
		ours += time.Since(t1)
	}
	b.ReportMetric(float64(naive)/float64(ours), "speedup")
	b.ReportMetric(float64(naive.Milliseconds())/float64(b.N), "naive-ms/frame")
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "imageproc-ms/frame")
}

// naiveReencode is imaging.Decode -> imaging.Fit with Lanczos ->
// imaging.Encode with its defaults (JPEG quality 95). imaging.Decode goes
// through the global image registry; it is here only as a baseline.
func naiveReencode(src []byte, w, h int) ([]byte, error) {
	img, err := imaging.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	img = imaging.Fit(img, w, h, imaging.Lanczos)
	var buf bytes.Buffer
	if err := imaging.Encode(&buf, img, imaging.JPEG); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BenchmarkPassthrough compares Reencode on an input that already meets the
// target (no rendition needed) with the floor, a plain copy of the bytes.
func BenchmarkPassthrough(b *testing.B) {
	src := readTestdata(b, "photo-64x48.jpg")
	big := readTestdata(b, "canvas-1920x1080.png")
	for _, tc := range []struct {
		name string
		src  []byte
		opt  Options
	}{
		{"jpeg-auto", src, Options{Format: OutputAuto, MaxWidth: 1280, MaxHeight: 720}},
		{"png1080p-original", big, Options{Format: OutputOriginal, MaxWidth: 1920, MaxHeight: 1080}},
	} {
		in, err := Inspect(tc.src, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name+"/reencode", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.src)))
			for b.Loop() {
				res, err := Reencode(tc.src, in, tc.opt)
				if err != nil || !res.Passthrough {
					b.Fatalf("got passthrough %v, err %v; want passthrough", res.Passthrough, err)
				}
			}
		})
		b.Run(tc.name+"/copy", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.src)))
			for b.Loop() {
				dst := make([]byte, len(tc.src))
				copy(dst, tc.src)
			}
		})
	}
}

// structureInputs are one sample per format for BenchmarkStructure: the
// 1080p canvas PNG, that canvas as JPEG q80 (baseline) and as a 960x540 GIF
// (both encoded here), and the largest WebP sample (there is no Go WebP
// encoder; its figure is dominated by the fixed cost of a 1 KB file).
func structureInputs(b *testing.B) []struct {
	name string
	src  []byte
} {
	b.Helper()
	pngSrc := readTestdata(b, "canvas-1920x1080.png")
	img, err := png.Decode(bytes.NewReader(pngSrc))
	if err != nil {
		b.Fatal(err)
	}
	var jb, gb bytes.Buffer
	if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 80}); err != nil {
		b.Fatal(err)
	}
	if err := gif.Encode(&gb, imaging.Resize(img, 960, 540, imaging.Box), nil); err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		src  []byte
	}{
		{"png", pngSrc},
		{"jpeg", jb.Bytes()},
		{"gif", gb.Bytes()},
		{"webp", readTestdata(b, "canvas-transparent-64x48.webp")},
	}
}

// BenchmarkStructure measures CheckStructure and Inspect on the same input
// and reports each one's ns per MB of input, and their ratio, from one loop
// that alternates them (so machine load hits both alike). The loop also
// times one CRC-32 of the whole input, the floor of the PNG check.
//
//	go test ./imageproc -run '^$' -bench Structure -benchtime 2000x
func BenchmarkStructure(b *testing.B) {
	for _, tc := range structureInputs(b) {
		in, err := Inspect(tc.src, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.src)))
			var st, ins, crc time.Duration
			for b.Loop() {
				tc0 := time.Now()
				crc32.ChecksumIEEE(tc.src)
				t0 := time.Now()
				crc += t0.Sub(tc0)
				if err := CheckStructure(tc.src, in); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if _, err := Inspect(tc.src, Limits{}); err != nil {
					b.Fatal(err)
				}
				st += t1.Sub(t0)
				ins += time.Since(t1)
			}
			mb := float64(len(tc.src)) / 1e6 * float64(b.N)
			b.ReportMetric(float64(st.Nanoseconds())/mb, "structure-ns/MB")
			b.ReportMetric(float64(ins.Nanoseconds())/mb, "inspect-ns/MB")
			b.ReportMetric(float64(st)/float64(ins), "structure/inspect")
			b.ReportMetric(float64(crc.Nanoseconds())/mb, "crc32-ns/MB")
			b.ReportMetric(float64(len(tc.src)), "input-bytes")
		})
	}
}
