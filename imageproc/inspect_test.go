package imageproc

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// readTestdata returns the bytes of ../testdata/name.
func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		tb.Fatalf("read testdata: %v", err)
	}
	return b
}

// inspectCases lists every file in testdata/ with what Inspect must say
// about it under the default Limits. Shared with the fuzz seeds.
var inspectCases = []struct {
	file   string
	format Format
	w, h   int
	code   string // "" means accepted
	is     error  // sentinel for errors.Is when code != ""
}{
	{file: "canvas-transparent-64x48.png", format: PNG, w: 64, h: 48},
	{file: "canvas-opaque-64x48.png", format: PNG, w: 64, h: 48},
	{file: "canvas-1920x1080.png", format: PNG, w: 1920, h: 1080},
	{file: "photo-64x48.jpg", format: JPEG, w: 64, h: 48},
	{file: "canvas-opaque-64x48.jpg", format: JPEG, w: 64, h: 48},
	{file: "exif-orientation6-48x64.jpg", format: JPEG, w: 48, h: 64},
	{file: "anim-2frames-64x48.gif", format: GIF, w: 64, h: 48},
	{file: "canvas-transparent-64x48.webp", format: WebP, w: 64, h: 48},
	{file: "canvas-transparent-lossy-64x48.webp", format: WebP, w: 64, h: 48},
	{file: "canvas-opaque-64x48.webp", format: WebP, w: 64, h: 48},
	// Only the body is cut: the header passes (Verify catches these).
	{file: "truncated-body.png", format: PNG, w: 64, h: 48},
	{file: "truncated-body.jpg", format: JPEG, w: 64, h: 48},
	{file: "truncated-body.gif", format: GIF, w: 64, h: 48},
	{file: "truncated-body.webp", format: WebP, w: 64, h: 48},
	{file: "truncated-body-lossy.webp", format: WebP, w: 64, h: 48},
	// The header is fine, the structure is not (CheckStructure catches these).
	{file: "padded-after-end.png", format: PNG, w: 64, h: 48},
	{file: "padded-after-end.jpg", format: JPEG, w: 64, h: 48},
	{file: "padded-after-end.gif", format: GIF, w: 64, h: 48},
	{file: "padded-after-end.webp", format: WebP, w: 64, h: 48},
	{file: "polyglot-html.png", format: PNG, w: 64, h: 48},
	{file: "gif-frame-outside-screen.gif", format: GIF, w: 1, h: 1},
	{file: "png16-interlaced-4096x4096.png", format: PNG, w: 4096, h: 4096},

	{file: "bomb-100000x100000.png", code: CodeTooManyPixels, is: ErrTooManyPixels},
	{file: "bomb-65535x65535.jpg", code: CodeTooManyPixels, is: ErrTooManyPixels},
	{file: "bomb-65535x65535.gif", code: CodeTooManyPixels, is: ErrTooManyPixels},
	{file: "bomb-vp8x-40000x40000.webp", code: CodeTooManyPixels, is: ErrTooManyPixels},
	{file: "bomb-vp8l-16384x16384.webp", code: CodeTooManyPixels, is: ErrTooManyPixels},
	{file: "truncated-header.png", code: CodeInvalidImage, is: ErrInvalid},
	{file: "truncated-header.jpg", code: CodeInvalidImage, is: ErrInvalid},
	{file: "truncated-header.gif", code: CodeInvalidImage, is: ErrInvalid},
	{file: "truncated-header.webp", code: CodeInvalidImage, is: ErrInvalid},
	{file: "badcrc.png", code: CodeInvalidImage, is: ErrInvalid},
	{file: "scanbomb-4096x4096.jpg", code: CodeInvalidImage, is: ErrInvalid},
	{file: "zero-size.gif", code: CodeInvalidImage, is: ErrInvalid},
	{file: "empty.bin", code: CodeInvalidImage, is: ErrEmpty},
	{file: "badmagic.png", code: CodeUnsupportedFormat, is: ErrUnsupported},
	{file: "random-1k.bin", code: CodeUnsupportedFormat, is: ErrUnsupported},
	{file: "sample.bmp", code: CodeUnsupportedFormat, is: ErrUnsupported},
	{file: "sample.tiff", code: CodeUnsupportedFormat, is: ErrUnsupported},
}

func TestInspectTestdata(t *testing.T) {
	for _, tc := range inspectCases {
		t.Run(tc.file, func(t *testing.T) {
			b := readTestdata(t, tc.file)
			info, err := Inspect(b, Limits{})
			if got := Code(err); got != tc.code {
				t.Fatalf("Code(Inspect) = %q (err %v), want %q", got, err, tc.code)
			}
			if tc.code != "" {
				if !errors.Is(err, tc.is) {
					t.Errorf("errors.Is(%v, %v) = false, want true", err, tc.is)
				}
				var e *Error
				if !errors.As(err, &e) || e.Msg == "" {
					t.Errorf("got %T %v, want *Error with a message", err, err)
				}
				if info != (Info{}) {
					t.Errorf("got info %+v on error, want zero Info", info)
				}
				return
			}
			want := Info{Format: tc.format, Width: tc.w, Height: tc.h, Bytes: len(b), DecodeBytes: info.DecodeBytes}
			if info != want || info.DecodeBytes < int64(tc.w)*int64(tc.h) {
				t.Errorf("got %+v, want %+v", info, want)
			}
		})
	}
}

func TestInspectLimits(t *testing.T) {
	png := readTestdata(t, "canvas-opaque-64x48.png")
	webp := readTestdata(t, "canvas-opaque-64x48.webp")
	tests := []struct {
		name string
		b    []byte
		lim  Limits
		code string
		is   error
	}{
		{"bytes at limit", png, Limits{MaxBytes: len(png)}, "", nil},
		{"bytes over limit", png, Limits{MaxBytes: len(png) - 1}, CodeTooLarge, ErrTooLarge},
		{"pixels at limit", png, Limits{MaxPixels: 64 * 48}, "", nil},
		{"pixels over limit", png, Limits{MaxPixels: 64*48 - 1}, CodeTooManyPixels, ErrTooManyPixels},
		{"format not allowed", webp, Limits{Formats: []Format{PNG, JPEG}}, CodeUnsupportedFormat, ErrUnsupported},
		{"format allowed", webp, Limits{Formats: []Format{WebP}}, "", nil},
		// Order: size is checked before the magic bytes, emptiness before size.
		{"too large and unknown", make([]byte, 100), Limits{MaxBytes: 10}, CodeTooLarge, ErrTooLarge},
		{"empty", []byte{}, Limits{MaxBytes: 10}, CodeInvalidImage, ErrEmpty},
		{"nil", nil, Limits{}, CodeInvalidImage, ErrEmpty},
		{"disallowed before header", []byte("GIF89a"), Limits{Formats: []Format{PNG}}, CodeUnsupportedFormat, ErrUnsupported},
		{"magic only", []byte("GIF89a"), Limits{}, CodeInvalidImage, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(tc.b, tc.lim)
			if got := Code(err); got != tc.code {
				t.Fatalf("Code = %q (err %v), want %q", got, err, tc.code)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tc.is)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		ok   bool
	}{
		{"\x89PNG\r\n\x1a\n", PNG, true},
		{"\x89PNG\r\n\x1a", "", false},
		{"\xff\xd8\xff", JPEG, true},
		{"\xff\xd8", "", false},
		{"GIF87a", GIF, true},
		{"GIF89a", GIF, true},
		{"GIF88a", "", false},
		{"RIFF\x00\x00\x00\x00WEBP", WebP, true},
		{"RIFF\x00\x00\x00\x00WAVE", "", false},
		{"RIFF\x00\x00\x00\x00WEB", "", false},
		{"BM", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := Sniff([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("Sniff(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseFormats(t *testing.T) {
	tests := []struct {
		in      string
		want    []Format
		wantErr bool
	}{
		{"png,jpeg,gif,webp", []Format{PNG, JPEG, GIF, WebP}, false},
		{" PNG , jpg ", []Format{PNG, JPEG}, false},
		{"png,png,jpeg", []Format{PNG, JPEG}, false},
		{"webp", []Format{WebP}, false},
		{"", nil, true},
		{" , ", nil, true},
		{"png,bmp", nil, true},
	}
	for _, tc := range tests {
		got, err := ParseFormats(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseFormats(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("ParseFormats(%q) error %v is not ErrUnsupported", tc.in, err)
			}
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseFormats(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseFormats(%q) = %v, want %v", tc.in, got, tc.want)
				break
			}
		}
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrEmpty, CodeInvalidImage},
		{ErrInvalid, CodeInvalidImage},
		{ErrUnsupported, CodeUnsupportedFormat},
		{ErrTooLarge, CodeTooLarge},
		{ErrTooManyPixels, CodeTooManyPixels},
		{errors.New("other"), CodeInvalidImage},
		{fmtWrap(newErr(ErrTooLarge, nil, "x")), CodeTooLarge},
	}
	for _, tc := range tests {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	// Sentinels that share a code stay distinct.
	if err := newErr(ErrEmpty, nil, "x"); errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(empty error, ErrInvalid) = true, want false")
	}
}

func fmtWrap(err error) error { return errors.Join(errors.New("step"), err) }

// TestInspectBombAllocs shows that rejecting a pixel bomb allocates a few
// kilobytes at most, nowhere near the w*h*4 bytes the header claims.
func TestInspectBombAllocs(t *testing.T) {
	bombs := []struct {
		file string
		w, h int64
	}{
		{"bomb-100000x100000.png", 100000, 100000},
		{"bomb-65535x65535.jpg", 65535, 65535},
		{"bomb-65535x65535.gif", 65535, 65535},
		{"bomb-vp8x-40000x40000.webp", 40000, 40000},
		{"bomb-vp8l-16384x16384.webp", 16384, 16384},
	}
	const maxBytesPerOp = 64 << 10 // far below even one row of RGBA for these sizes
	for _, bc := range bombs {
		t.Run(bc.file, func(t *testing.T) {
			b := readTestdata(t, bc.file)
			perOp := bytesPerOp(t, 50, func() {
				if _, err := Inspect(b, Limits{}); !errors.Is(err, ErrTooManyPixels) {
					t.Fatalf("got %v, want ErrTooManyPixels", err)
				}
			})
			claimed := bc.w * bc.h * 4
			t.Logf("%s: %d bytes allocated per Inspect, header claims %d bytes of RGBA", bc.file, perOp, claimed)
			if perOp > maxBytesPerOp {
				t.Errorf("got %d bytes per Inspect, want <= %d", perOp, maxBytesPerOp)
			}
		})
	}
}

// bytesPerOp returns the average heap bytes allocated by one call of f.
func bytesPerOp(t *testing.T, runs int, f func()) uint64 {
	t.Helper()
	f() // warm up lazily initialised tables
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

func BenchmarkInspect(b *testing.B) {
	for _, file := range []string{
		"canvas-1920x1080.png", "photo-64x48.jpg", "anim-2frames-64x48.gif",
		"canvas-transparent-64x48.webp", "bomb-100000x100000.png",
	} {
		data := readTestdata(b, file)
		b.Run(file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				_, _ = Inspect(data, Limits{})
			}
		})
	}
}
