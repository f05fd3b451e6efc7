package imageproc

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenCases are the Reencode promises of issue 3, each checked for format,
// size and passthrough, and (unless it passes through) against a golden
// file with a small per-channel tolerance.
var goldenCases = []struct {
	name        string
	file        string
	opt         Options
	format      Format
	w, h        int
	passthrough bool
	alpha       bool // the output must keep transparent pixels
}{
	// Transparent canvas layers stay PNG with alpha under auto; opaque ones become JPEG.
	{name: "transparent-auto", file: "canvas-transparent-64x48.png", format: PNG, w: 64, h: 48, passthrough: true, alpha: true},
	{name: "transparent-auto-fit32", file: "canvas-transparent-64x48.png", opt: Options{MaxWidth: 32, MaxHeight: 32}, format: PNG, w: 32, h: 24, alpha: true},
	{name: "transparent-jpeg", file: "canvas-transparent-64x48.png", opt: Options{Format: OutputJPEG}, format: JPEG, w: 64, h: 48},
	{name: "opaque-auto", file: "canvas-opaque-64x48.png", format: JPEG, w: 64, h: 48},
	{name: "opaque-original", file: "canvas-opaque-64x48.png", opt: Options{Format: OutputOriginal}, format: PNG, w: 64, h: 48, passthrough: true},
	// EXIF orientation 6 comes out upright, and the box applies to the upright picture.
	{name: "exif6-auto", file: "exif-orientation6-48x64.jpg", format: JPEG, w: 64, h: 48},
	{name: "exif6-fit32", file: "exif-orientation6-48x64.jpg", opt: Options{MaxWidth: 32, MaxHeight: 32}, format: JPEG, w: 32, h: 24},
	// GIF: first frame. WebP: decoded by x/image/webp.
	{name: "gif-auto", file: "anim-2frames-64x48.gif", format: JPEG, w: 64, h: 48},
	{name: "gif-original", file: "anim-2frames-64x48.gif", opt: Options{Format: OutputOriginal}, format: GIF, w: 64, h: 48, passthrough: true},
	{name: "gif-png-fit16", file: "anim-2frames-64x48.gif", opt: Options{MaxWidth: 16, Format: OutputPNG}, format: PNG, w: 16, h: 12},
	{name: "webp-lossless-auto", file: "canvas-transparent-64x48.webp", format: PNG, w: 64, h: 48, alpha: true},
	{name: "webp-lossy-alpha-auto", file: "canvas-transparent-lossy-64x48.webp", format: PNG, w: 64, h: 48, alpha: true},
	{name: "webp-opaque-auto", file: "canvas-opaque-64x48.webp", format: JPEG, w: 64, h: 48},
	{name: "webp-original-fits", file: "canvas-opaque-64x48.webp", opt: Options{Format: OutputOriginal}, format: WebP, w: 64, h: 48, passthrough: true},
	{name: "webp-original-fit32", file: "canvas-opaque-64x48.webp", opt: Options{Format: OutputOriginal, MaxWidth: 32}, format: JPEG, w: 32, h: 24},
	// Box fitting keeps the aspect ratio and never upscales.
	{name: "photo-auto-fits", file: "photo-64x48.jpg", opt: Options{MaxWidth: 640, MaxHeight: 480}, format: JPEG, w: 64, h: 48, passthrough: true},
	{name: "photo-fit32x32", file: "photo-64x48.jpg", opt: Options{MaxWidth: 32, MaxHeight: 32}, format: JPEG, w: 32, h: 24},
	{name: "photo-fit100x10", file: "photo-64x48.jpg", opt: Options{MaxWidth: 100, MaxHeight: 10}, format: JPEG, w: 13, h: 10},
	{name: "photo-fit-w20", file: "photo-64x48.jpg", opt: Options{MaxWidth: 20}, format: JPEG, w: 20, h: 15},
	{name: "photo-fit-h12-png", file: "photo-64x48.jpg", opt: Options{MaxHeight: 12, Format: OutputPNG}, format: PNG, w: 16, h: 12},
	{name: "photo-q30", file: "photo-64x48.jpg", opt: Options{Format: OutputJPEG, Quality: 30, MaxWidth: 63}, format: JPEG, w: 63, h: 47},
	{name: "canvas1080p-fit640", file: "canvas-1920x1080.png", opt: Options{MaxWidth: 640, MaxHeight: 640}, format: JPEG, w: 640, h: 360},
}

func TestReencodeGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			src := readTestdata(t, tc.file)
			in, err := Inspect(src, Limits{})
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			res, err := Reencode(src, in, tc.opt)
			if err != nil {
				t.Fatalf("Reencode: %v", err)
			}
			want := Info{Format: tc.format, Width: tc.w, Height: tc.h, Bytes: len(res.Bytes), DecodeBytes: res.Info.DecodeBytes}
			if res.Info != want || res.Info.DecodeBytes <= 0 {
				t.Errorf("got info %+v, want %+v", res.Info, want)
			}
			if res.Passthrough != tc.passthrough {
				t.Errorf("got passthrough %v, want %v", res.Passthrough, tc.passthrough)
			}
			if tc.passthrough {
				if !bytes.Equal(res.Bytes, src) {
					t.Errorf("passthrough bytes differ from the input")
				}
				return
			}
			// The output is what its Info says it is.
			out, err := Inspect(res.Bytes, Limits{})
			if err != nil || out != res.Info {
				t.Fatalf("Inspect(output) = %+v, %v, want %+v", out, err, res.Info)
			}
			img, err := decode(context.Background(), res.Bytes, out)
			if err != nil {
				t.Fatalf("decode output: %v", err)
			}
			if got := !isOpaque(img); got != tc.alpha {
				t.Errorf("output has transparency %v, want %v", got, tc.alpha)
			}
			if _, meta := scanJPEG(res.Bytes); tc.format == JPEG && meta {
				t.Errorf("output JPEG carries metadata segments")
			}
			compareGolden(t, tc.name, tc.format, res.Bytes, img)
		})
	}
}

// compareGolden checks img against testdata/golden/name.<ext> within a
// per-channel tolerance, or rewrites the file under -update.
func compareGolden(t *testing.T, name string, f Format, b []byte, img image.Image) {
	t.Helper()
	ext := map[Format]string{PNG: ".png", JPEG: ".jpg"}[f]
	path := filepath.Join("..", "testdata", "golden", name+ext)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gb, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	gi, err := Inspect(gb, Limits{})
	if err != nil {
		t.Fatalf("inspect golden: %v", err)
	}
	golden, err := decode(context.Background(), gb, gi)
	if err != nil {
		t.Fatalf("decode golden: %v", err)
	}
	const tolerance = 3 // levels per channel: room for encoder tweaks, not for visible change
	if d := maxChannelDiff(t, img, golden); d > tolerance {
		t.Errorf("max channel difference from %s = %d, want <= %d", path, d, tolerance)
	}
}

// TestReencodeEXIFUpright compares the orientation-6 JPEG, re-encoded, with
// the upright picture it was made from, and checks the red marker block is
// in the top-left corner.
func TestReencodeEXIFUpright(t *testing.T) {
	src := readTestdata(t, "exif-orientation6-48x64.jpg")
	res, err := Reencode(src, Info{}, Options{Format: OutputPNG})
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(res.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	want := decodePNG(t, readTestdata(t, "golden-src/exif-upright-64x48.png"))
	if d := meanChannelDiff(t, got, want); d > 3 {
		t.Errorf("mean channel difference from the upright picture = %.2f, want <= 3", d)
	}
	r, g, b, _ := got.At(4, 4).RGBA()
	if r>>8 < 200 || g>>8 > 60 || b>>8 > 60 {
		t.Errorf("pixel (4,4) = %d,%d,%d, want red (marker top-left)", r>>8, g>>8, b>>8)
	}
}

// TestReencodeTransparentNotBlack: auto keeps transparency, and forcing JPEG
// puts transparent pixels on white, never black.
func TestReencodeTransparentNotBlack(t *testing.T) {
	src := readTestdata(t, "canvas-transparent-64x48.png")
	orig := decodePNG(t, src)
	tx, ty := -1, -1 // a fully transparent source pixel
	for i := 3; i < len(orig.Pix); i += 4 {
		if orig.Pix[i] == 0 {
			tx, ty = (i/4)%64, (i/4)/64
			break
		}
	}
	if tx < 0 {
		t.Fatal("sample has no transparent pixel")
	}
	res, err := Reencode(src, Info{}, Options{Format: OutputJPEG})
	if err != nil {
		t.Fatal(err)
	}
	c := imaging.Clone(decodeJPEG(t, res.Bytes)).NRGBAAt(tx, ty)
	if c.R < 240 || c.G < 240 || c.B < 240 {
		t.Errorf("transparent pixel (%d,%d) became %v in JPEG, want white", tx, ty, c)
	}
}

func TestReencodeErrors(t *testing.T) {
	png := readTestdata(t, "canvas-opaque-64x48.png")
	tests := []struct {
		name string
		file string
		in   Info
		opt  Options
		is   error
	}{
		{"bomb with zero info", "bomb-100000x100000.png", Info{}, Options{}, ErrTooManyPixels},
		{"truncated body", "truncated-body.png", Info{}, Options{Format: OutputJPEG}, ErrInvalid},
		{"truncated gif", "truncated-body.gif", Info{}, Options{}, ErrInvalid},
		{"truncated webp", "truncated-body.webp", Info{}, Options{}, ErrInvalid},
		{"bmp", "sample.bmp", Info{}, Options{}, ErrUnsupported},
		{"empty", "empty.bin", Info{}, Options{}, ErrEmpty},
		{"info of another format", "canvas-opaque-64x48.png", Info{Format: GIF, Width: 64, Height: 48, Bytes: len(png)}, Options{}, ErrInvalid},
		{"negative box", "canvas-opaque-64x48.png", Info{}, Options{MaxWidth: -1}, ErrInvalid},
		{"bad quality", "canvas-opaque-64x48.png", Info{}, Options{Quality: 101}, ErrInvalid},
		{"bad format", "canvas-opaque-64x48.png", Info{}, Options{Format: "bmp"}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Reencode(readTestdata(t, tc.file), tc.in, tc.opt)
			if !errors.Is(err, tc.is) {
				t.Errorf("Reencode = %v, want %v", err, tc.is)
			}
		})
	}
}

func TestFitBox(t *testing.T) {
	tests := []struct{ w, h, mw, mh, ww, wh int }{
		{64, 48, 0, 0, 64, 48},
		{64, 48, 64, 48, 64, 48},
		{64, 48, 128, 128, 64, 48}, // never upscale
		{64, 48, 32, 32, 32, 24},
		{64, 48, 100, 10, 13, 10},
		{48, 64, 32, 32, 24, 32},
		{1920, 1080, 1280, 720, 1280, 720},
		{1920, 1080, 640, 0, 640, 360},
		{1920, 1080, 0, 100, 178, 100},
		{10000, 1, 100, 100, 100, 1}, // never 0
		{1, 10000, 100, 100, 1, 100},
	}
	for _, tc := range tests {
		w, h := fitBox(tc.w, tc.h, tc.mw, tc.mh)
		if w != tc.ww || h != tc.wh {
			t.Errorf("fitBox(%d,%d,%d,%d) = %d,%d, want %d,%d", tc.w, tc.h, tc.mw, tc.mh, w, h, tc.ww, tc.wh)
		}
	}
}

func TestParseOutputFormat(t *testing.T) {
	for in, want := range map[string]OutputFormat{"": OutputAuto, "AUTO": OutputAuto, "png": OutputPNG, "jpg": OutputJPEG, " jpeg ": OutputJPEG, "original": OutputOriginal} {
		if got, err := ParseOutputFormat(in); err != nil || got != want {
			t.Errorf("ParseOutputFormat(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"webp", "gif", "bmp", "x"} {
		if _, err := ParseOutputFormat(in); err == nil {
			t.Errorf("ParseOutputFormat(%q) = nil error, want an error", in)
		}
	}
}

// cleanBytes strips metadata and whatever follows the end marker, and gives
// the input itself back when there is nothing to strip.
func TestCleanBytes(t *testing.T) {
	png := readTestdata(t, "canvas-opaque-64x48.png")
	jpg := readTestdata(t, "photo-64x48.jpg")
	gifb := readTestdata(t, "anim-2frames-64x48.gif")
	webp := readTestdata(t, "canvas-opaque-64x48.webp")
	gct := 13 // header and screen (no global colour table: each frame has its own)
	gifComment := append(append(bytes.Clone(gifb[:gct]), "\x21\xfe\x02hi\x00"...), gifb[gct:]...)
	jpgComment := append(append(bytes.Clone(jpg[:2]), 0xFF, 0xFE, 0, 4, 'h', 'i'), jpg[2:]...)
	tests := []struct {
		name     string
		f        Format
		in, want []byte // want nil: the walk fails (decode path)
	}{
		{"clean png", PNG, png, png},
		{"png polyglot", PNG, readTestdata(t, "polyglot-html.png"), png},
		{"png padded", PNG, readTestdata(t, "padded-after-end.png"), png},
		{"png tEXt", PNG, insertPNGChunk(t, png, "tEXt", []byte("Comment\x00hi")), png},
		{"clean jpeg", JPEG, jpg, jpg},
		{"jpeg padded", JPEG, readTestdata(t, "padded-after-end.jpg"), jpg},
		{"jpeg comment", JPEG, jpgComment, jpg},
		{"clean gif", GIF, gifb, gifb},
		{"gif padded", GIF, readTestdata(t, "padded-after-end.gif"), gifb},
		{"gif comment", GIF, gifComment, gifb},
		{"clean webp", WebP, webp, webp},
		{"webp padded", WebP, readTestdata(t, "padded-after-end.webp"), webp},
		{"truncated png", PNG, readTestdata(t, "truncated-body.png"), nil},
		{"truncated jpeg", JPEG, readTestdata(t, "truncated-body.jpg"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cleanBytes(tc.f, tc.in)
			if tc.want == nil {
				if ok {
					t.Fatalf("got %d bytes, want the walk to fail", len(got))
				}
				return
			}
			if !ok || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes (ok %v), want the %d clean ones", len(got), ok, len(tc.want))
			}
			if bytes.Equal(tc.in, tc.want) && &got[0] != &tc.in[0] {
				t.Errorf("nothing to strip, but got a copy")
			}
		})
	}
	// EXIF goes (APP1), the picture stays.
	exif := readTestdata(t, "exif-orientation6-48x64.jpg")
	if o, _ := scanJPEG(exif); o != 6 {
		t.Errorf("orientation = %d, want 6", o)
	}
	got, ok := cleanBytes(JPEG, exif)
	if !ok || bytes.Contains(got, []byte("Exif\x00\x00")) || len(got) >= len(exif) {
		t.Fatalf("EXIF jpeg: got %d bytes (ok %v), want fewer, without the Exif segment", len(got), ok)
	}
	if err := Verify(got, Info{}); err != nil {
		t.Fatalf("stripped EXIF jpeg does not decode: %v", err)
	}
}

// insertPNGChunk puts a chunk right after IHDR.
func insertPNGChunk(t *testing.T, b []byte, typ string, data []byte) []byte {
	t.Helper()
	var c bytes.Buffer
	c.Write([]byte{0, 0, 0, byte(len(data))})
	c.WriteString(typ)
	c.Write(data)
	c.Write([]byte{0, 0, 0, 0}) // CRC is not checked by the walk
	at := 8 + 25                // signature + IHDR chunk
	return append(append(append([]byte{}, b[:at]...), c.Bytes()...), b[at:]...)
}

// TestMemoryCostBoundsReencode measures the heap bytes one Reencode
// allocates and checks MemoryCost does not underestimate them.
func TestMemoryCostBoundsReencode(t *testing.T) {
	tests := []struct {
		file string
		opt  Options
	}{
		{"canvas-1920x1080.png", Options{MaxWidth: 1280, MaxHeight: 720, Format: OutputJPEG}},
		{"canvas-1920x1080.png", Options{MaxWidth: 100, Format: OutputPNG}},
		{"canvas-transparent-64x48.png", Options{MaxWidth: 32}},
		{"exif-orientation6-48x64.jpg", Options{}},
		{"canvas-transparent-lossy-64x48.webp", Options{MaxWidth: 40}},
		{"anim-2frames-64x48.gif", Options{Format: OutputPNG}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s-%dx%d-%s", tc.file, tc.opt.MaxWidth, tc.opt.MaxHeight, tc.opt.Format), func(t *testing.T) {
			src := readTestdata(t, tc.file)
			in, err := Inspect(src, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got := bytesPerOp(t, 2, func() {
				if _, err := Reencode(src, in, tc.opt); err != nil {
					t.Fatal(err)
				}
			})
			cost := uint64(MemoryCost(in, tc.opt))
			t.Logf("allocated %d bytes, MemoryCost %d", got, cost)
			if got > cost {
				t.Errorf("allocated %d bytes, want <= MemoryCost %d", got, cost)
			}
		})
	}
}
