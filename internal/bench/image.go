package bench

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
)

// makePNG returns a real, valid PNG of about size bytes (at least size,
// within a row of it). It is stored uncompressed, so its size is exact to
// compute and its pixels (noise) would not compress anyway, like a photo.
func makePNG(size int) ([]byte, error) {
	const minSize = 128
	if size < minSize {
		return nil, fmt.Errorf("%w: frame size %d: want at least %d bytes", ErrBadOptions, size, minSize)
	}
	// An uncompressed NRGBA PNG is about h*(4w+1) bytes of pixel rows plus
	// ~60 bytes of chunks and ~5 bytes of deflate framing per 64 KiB.
	w := 256
	for w > 8 && 4*w*w > size {
		w /= 2
	}
	overhead := 64 + 5*(size/65535+1)
	h := max(1, (size-overhead+4*w)/(4*w+1))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(uint64(size), 9))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.NoCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode bench image: %w", err)
	}
	return buf.Bytes(), nil
}
