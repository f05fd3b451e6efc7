// Command gen writes the sample and hostile images in testdata/.
//
// Run it from the module root:
//
//	go run ./testdata/gen            # writes into ./testdata
//
// The output is deterministic. WebP samples need cwebp (Debian package
// "webp"); without it the existing .webp files are left as they are.
package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

var out = flag.String("out", "testdata", "output directory")

func main() {
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

func run(dir string) error {
	w := &writer{dir: dir}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}

	// Valid samples.
	transparent := canvas(64, 48, 8, 2, color.NRGBA{}, 1)
	opaque := canvas(64, 48, 8, 2, white, 2)
	photo := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	gradient(photo, photo.Bounds())
	stroke(photo, []point{{8, 8}, {56, 40}}, 3, color.NRGBA{0xff, 0xff, 0xff, 0xff})

	tPNG := w.png("canvas-transparent-64x48.png", transparent)
	oPNG := w.png("canvas-opaque-64x48.png", opaque)
	jpg := w.jpeg("photo-64x48.jpg", photo, 90)
	w.jpeg("canvas-opaque-64x48.jpg", opaque, 90)
	gifData := w.gif("anim-2frames-64x48.gif", opaque, transparent)

	// A picture that is upright only once EXIF orientation 6 is applied:
	// the stored pixels are the upright picture turned 90° counter-clockwise,
	// and orientation 6 tells viewers to turn it 90° clockwise.
	upright := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	gradient(upright, upright.Bounds())
	// A red block in the top-left corner makes the orientation obvious.
	draw.Draw(upright, image.Rect(0, 0, 16, 12), image.NewUniform(color.NRGBA{0xff, 0, 0, 0xff}), image.Point{}, draw.Src)
	w.png("golden-src/exif-upright-64x48.png", upright)
	stored := rotateCCW(upright)
	w.write("exif-orientation6-48x64.jpg", withEXIFOrientation(encJPEG(stored, 95), 6))

	// Benchmark-sized canvas: a white board with many strokes.
	big := canvas(1920, 1080, 60, 8, white, 3)
	w.png("canvas-1920x1080.png", big)

	// WebP, through cwebp.
	if _, err := exec.LookPath("cwebp"); err == nil {
		w.cwebp("canvas-transparent-64x48.webp", "canvas-transparent-64x48.png", "-lossless", "-exact")
		w.cwebp("canvas-transparent-lossy-64x48.webp", "canvas-transparent-64x48.png", "-q", "80")
		w.cwebp("canvas-opaque-64x48.webp", "canvas-opaque-64x48.png", "-q", "80")
	} else {
		log.Print("cwebp not found: keeping existing .webp files")
	}

	// Other formats that must be refused.
	var buf bytes.Buffer
	if err := bmp.Encode(&buf, opaque); err != nil {
		return err
	}
	w.write("sample.bmp", buf.Bytes())
	buf.Reset()
	if err := tiff.Encode(&buf, opaque, nil); err != nil {
		return err
	}
	w.write("sample.tiff", buf.Bytes())

	// Pixel bombs: tiny files whose header claims a huge canvas.
	w.write("bomb-100000x100000.png", pngBomb(100000, 100000))
	w.write("bomb-65535x65535.jpg", jpegBomb(65535, 65535))
	w.write("bomb-65535x65535.gif", gifBomb(65535, 65535))
	w.write("bomb-vp8x-40000x40000.webp", webpVP8XBomb(40000, 40000))
	w.write("bomb-vp8l-16384x16384.webp", webpVP8LBomb(16384, 16384))

	// Truncated: the header is cut (invalid), or only the body is cut (the
	// header passes, a full decode fails).
	webpLossless := w.read("canvas-transparent-64x48.webp")
	webpLossy := w.read("canvas-opaque-64x48.webp")
	w.write("truncated-header.png", tPNG[:20])
	w.write("truncated-body.png", tPNG[:len(tPNG)*2/3])
	w.write("truncated-header.jpg", jpg[:40])
	w.write("truncated-body.jpg", jpg[:len(jpg)*2/3])
	w.write("truncated-header.gif", gifData[:10])
	w.write("truncated-body.gif", gifData[:len(gifData)/3])
	w.write("truncated-header.webp", webpLossless[:16])
	w.write("truncated-body.webp", webpLossless[:len(webpLossless)*2/3])
	w.write("truncated-body-lossy.webp", webpLossy[:len(webpLossy)*2/3])

	// Corrupt headers.
	bad := bytes.Clone(oPNG)
	bad[1] = 'X' // "\x89XNG..."
	w.write("badmagic.png", bad)
	bad = bytes.Clone(oPNG)
	bad[20] ^= 0xff // inside IHDR data: CRC no longer matches
	w.write("badcrc.png", bad)
	w.write("zero-size.gif", gifHeader(0, 0))
	w.write("empty.bin", nil)
	rng := rand.New(rand.NewPCG(7, 7))
	noise := make([]byte, 1024)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	noise[0] = 0x00 // no known magic
	w.write("random-1k.bin", noise)

	// Structure: bytes after the end marker, a frame outside its screen, a
	// progressive JPEG with thousands of scans, and a PNG whose decode costs
	// far more than its 8-bit size suggests.
	zeros := make([]byte, 4096)
	w.write("padded-after-end.png", append(bytes.Clone(oPNG), zeros...))
	w.write("padded-after-end.jpg", append(bytes.Clone(jpg), zeros...))
	w.write("padded-after-end.gif", append(bytes.Clone(gifData), zeros...))
	w.write("padded-after-end.webp", append(bytes.Clone(webpLossy), zeros...))
	w.write("polyglot-html.png", append(bytes.Clone(oPNG), []byte("<html><script>alert(document.domain)</script></html>")...))
	w.write("gif-frame-outside-screen.gif", gifFrameOutside())
	w.write("scanbomb-4096x4096.jpg", jpegScanBomb(4096, 4096, 2900))
	w.write("png16-interlaced-4096x4096.png", png16Interlaced(4096, 4096))
	return w.err
}

type writer struct {
	dir string
	err error
}

func (w *writer) write(name string, b []byte) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.err = err
		return
	}
	w.err = os.WriteFile(p, b, 0o644)
}

func (w *writer) read(name string) []byte {
	b, err := os.ReadFile(filepath.Join(w.dir, name))
	if err != nil && w.err == nil {
		w.err = err
	}
	return b
}

func (w *writer) png(name string, img image.Image) []byte {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		w.err = err
	}
	w.write(name, buf.Bytes())
	return buf.Bytes()
}

func (w *writer) jpeg(name string, img image.Image, q int) []byte {
	b := encJPEG(img, q)
	w.write(name, b)
	return b
}

func encJPEG(img image.Image, q int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// gif writes a two-frame animation; the first frame is a, the second b.
func (w *writer) gif(name string, a, b image.Image) []byte {
	var frames []*image.Paletted
	for _, img := range []image.Image{a, b} {
		p := image.NewPaletted(img.Bounds(), append(palette.WebSafe[:len(palette.WebSafe):len(palette.WebSafe)], color.Transparent))
		draw.FloydSteinberg.Draw(p, p.Bounds(), img, image.Point{})
		frames = append(frames, p)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, &gif.GIF{Image: frames, Delay: []int{50, 50}}); err != nil {
		w.err = err
	}
	w.write(name, buf.Bytes())
	return buf.Bytes()
}

func (w *writer) cwebp(name, src string, args ...string) {
	if w.err != nil {
		return
	}
	args = append(args, "-quiet", "-metadata", "none", filepath.Join(w.dir, src), "-o", filepath.Join(w.dir, name))
	cmd := exec.Command("cwebp", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		w.err = fmt.Errorf("cwebp %s: %w", name, err)
	}
}

func rotateCCW(src *image.NRGBA) *image.NRGBA {
	b := src.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			// (x, y) -> (y, W-1-x)
			dst.SetNRGBA(y, b.Dx()-1-x, src.NRGBAAt(x, y))
		}
	}
	return dst
}

// withEXIFOrientation inserts an APP1 Exif segment holding only the
// orientation tag right after the SOI marker of a JPEG.
func withEXIFOrientation(jpg []byte, orientation uint16) []byte {
	var tiffData bytes.Buffer
	be := binary.BigEndian
	tiffData.WriteString("MM\x00\x2a")
	binary.Write(&tiffData, be, uint32(8)) // offset of IFD0
	binary.Write(&tiffData, be, uint16(1)) // one entry
	binary.Write(&tiffData, be, uint16(0x0112))
	binary.Write(&tiffData, be, uint16(3)) // SHORT
	binary.Write(&tiffData, be, uint32(1))
	binary.Write(&tiffData, be, orientation)
	binary.Write(&tiffData, be, uint16(0)) // padding of the 4-byte value field
	binary.Write(&tiffData, be, uint32(0)) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiffData.Bytes()...)
	seg := []byte{0xff, 0xe1, 0, 0}
	be.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

func pngBomb(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, pngChunk("IHDR", ihdr)...)
	// A tiny zlib stream of zeros: decoding it would inflate without end.
	b = append(b, pngChunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x60, 0x18, 0x05, 0x00, 0x00})...)
	return append(b, pngChunk("IEND", nil)...)
}

func jpegBomb(w, h uint16) []byte {
	b := []byte{0xff, 0xd8}
	// SOF0: length 17, precision 8, height, width, 3 components.
	b = append(b, 0xff, 0xc0, 0, 17, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	// SOS: the decoder's DecodeConfig stops here; a full decode would not.
	b = append(b, 0xff, 0xda, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0)
	b = append(b, 0, 0, 0, 0)
	return append(b, 0xff, 0xd9)
}

func gifHeader(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0x80, 0, 0)                // global color table of 2 entries
	b = append(b, 0, 0, 0, 0xff, 0xff, 0xff) // black, white
	return b
}

func gifBomb(w, h uint16) []byte {
	b := gifHeader(w, h)
	b = append(b, 0x2c, 0, 0, 0, 0) // image descriptor at (0, 0)
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	b = append(b, 0)                      // no local color table
	b = append(b, 2, 2, 0x4c, 0x01, 0x00) // LZW min size 2, one tiny block
	return append(b, 0x3b)
}

func riff(chunks ...[]byte) []byte {
	var body []byte
	body = append(body, "WEBP"...)
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(b, body...)
}

func riffChunk(fcc string, data []byte) []byte {
	b := append([]byte(fcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func webpVP8XBomb(w, h uint32) []byte {
	x := []byte{0x10, 0, 0, 0} // alpha flag
	x = append(x, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	x = append(x, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
	return riff(riffChunk("VP8X", x), riffChunk("VP8L", vp8lHeader(w, h)))
}

func webpVP8LBomb(w, h uint32) []byte {
	return riff(riffChunk("VP8L", vp8lHeader(w, h)))
}

// vp8lHeader is a VP8L signature plus 14-bit width-1, 14-bit height-1,
// alpha bit and a zero version, followed by a few zero bytes of "data".
func vp8lHeader(w, h uint32) []byte {
	bits := (w - 1) & 0x3fff
	bits |= ((h - 1) & 0x3fff) << 14
	bits |= 1 << 28
	b := []byte{0x2f}
	b = binary.LittleEndian.AppendUint32(b, bits)
	return append(b, make([]byte, 8)...)
}

// gifFrameOutside is a GIF whose logical screen is 1x1 and whose only frame
// is 64x48: DecodeConfig reports 1x1.
func gifFrameOutside() []byte {
	b := gifHeader(1, 1)
	b = append(b, 0x2c, 0, 0, 0, 0) // image descriptor at (0, 0)
	b = binary.LittleEndian.AppendUint16(b, 64)
	b = binary.LittleEndian.AppendUint16(b, 48)
	b = append(b, 0)                      // no local color table
	b = append(b, 2, 2, 0x4c, 0x01, 0x00) // LZW min size 2, one tiny block
	return append(b, 0x3b)
}

// jpegScanBomb is a grey progressive JPEG of w x h (multiples of 128) made
// of scans AC scans of the whole picture, each coded as EOB runs of 16384
// blocks (a 15-bit code each), so that every scan costs a few bytes and makes
// a decoder visit every block once more.
func jpegScanBomb(w, h, scans int) []byte {
	b := []byte{0xff, 0xd8}
	// DQT: table 0, all ones.
	b = append(b, 0xff, 0xdb, 0, 67, 0)
	for range 64 {
		b = append(b, 1)
	}
	// SOF2: progressive, precision 8, one component (id 1, 1x1, table 0).
	b = append(b, 0xff, 0xc2, 0, 11, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)
	// DHT: DC table 0 with symbol 0 (length 1); AC table 0 with symbol 0xE0,
	// EOB14: a run of 2^14 + (14 extra bits) blocks (length 1).
	dht := func(class byte, sym byte) []byte {
		d := []byte{0xff, 0xc4, 0, 20, class << 4, 1}
		d = append(d, make([]byte, 15)...)
		return append(d, sym)
	}
	b = append(b, dht(0, 0x00)...)
	b = append(b, dht(1, 0xe0)...)
	blocks := (w / 8) * (h / 8)
	codes := blocks / 16384
	data := make([]byte, codes*15/8) // each code: "0" then 14 zero bits
	for range scans {
		// SOS: one component, tables 0/0, Ss=1, Se=63, Ah=Al=0.
		b = append(b, 0xff, 0xda, 0, 8, 1, 1, 0x00, 1, 63, 0)
		b = append(b, data...)
	}
	return append(b, 0xff, 0xd9)
}

// png16Interlaced is a w x h 16-bit RGBA Adam7-interlaced PNG of zeros: a
// small file whose decode takes 8 bytes a pixel, plus the passes.
func png16Interlaced(w, h int) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 16, 6, 0, 0, 1) // 16-bit RGBA, interlaced
	// Adam7 passes: origin and step of each pass.
	passes := [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	var raw int
	for _, p := range passes {
		pw := (w - p[0] + p[2] - 1) / p[2]
		ph := (h - p[1] + p[3] - 1) / p[3]
		if pw > 0 && ph > 0 {
			raw += ph * (1 + pw*8)
		}
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1<<16)
	for raw > 0 {
		n := min(raw, len(row))
		zw.Write(row[:n])
		raw -= n
	}
	zw.Close()
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, pngChunk("IHDR", ihdr)...)
	b = append(b, pngChunk("IDAT", z.Bytes())...)
	return append(b, pngChunk("IEND", nil)...)
}
