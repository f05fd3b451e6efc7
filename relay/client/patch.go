package client

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// Patch frames (DESIGN.md v1.1). The Client asks the relay for patches
// (the query parameter patches=1, unless Config.FullFrames is set): a
// sender may send only the rectangle of its layer that changed, and the
// relay forwards that patch with `patch`, `x` and `y` on its frame event.
// The Client keeps each sender's picture (its last full frame, decoded on
// the first patch that needs it), draws every patch over it (the patch's
// pixels replace what they cover, transparent ones included) and delivers
// the whole picture on Frames, encoded as PNG, with the patch itself in
// Frame.Patch. So a reader of Frames always gets full, drawable images.
//
// A patch for a sender whose full frame this connection has not seen, one
// that does not fit inside it, or one that does not decode is dropped and
// counted (Stats.BadPatches): the relay never sends one (a late joiner gets
// the whole log, full frame first), so it means a broken relay.

// maxPictures and maxPictureBytes bound the senders' pictures a connection
// keeps (their last full frame, or the decoded picture, 4 bytes a pixel);
// the least recently updated goes first. A sender whose picture went gets
// its patches dropped (Stats.BadPatches) until its next full frame.
const (
	maxPictures     = 64
	maxPictureBytes = 256 << 20
)

// Patch is the patch a Frame was composed from.
type Patch struct {
	Info FrameInfo // its frame event: Patch, X, Y, Width, Height
	Data []byte    // the patch image as the relay sent it
}

// pictures are the senders' pictures of one connection. Owned by its read
// loop.
type pictures struct {
	maxPixels int64 // from hello; 0: no check
	m         map[string]*picture
	order     []string // least recently updated first
	bytes     int64    // what the pictures hold
}

type picture struct {
	full []byte       // the last full frame, until a patch needs it decoded
	img  *image.NRGBA // the decoded picture, patches drawn on it
}

func (p *picture) size() int64 {
	if p.img != nil {
		return int64(len(p.img.Pix))
	}
	return int64(len(p.full))
}

// full records a sender's new full frame.
func (ps *pictures) full(client string, data []byte) {
	if ps.m == nil {
		ps.m = make(map[string]*picture)
	}
	ps.set(client, &picture{full: data})
}

// set makes p client's picture, the most recently updated, and keeps the
// pictures within their bounds.
func (ps *pictures) set(client string, p *picture) {
	if old := ps.m[client]; old != nil {
		ps.bytes -= old.size()
	}
	for i, c := range ps.order {
		if c == client {
			ps.order = append(ps.order[:i], ps.order[i+1:]...)
			break
		}
	}
	ps.m[client] = p
	ps.bytes += p.size()
	ps.order = append(ps.order, client)
	for len(ps.order) > 1 && (len(ps.order) > maxPictures || ps.bytes > maxPictureBytes) {
		ps.bytes -= ps.m[ps.order[0]].size()
		delete(ps.m, ps.order[0])
		ps.order = ps.order[1:]
	}
}

// errBadPatch is a patch the Client cannot apply.
var errBadPatch = errors.New("client: bad patch")

// apply draws a patch on its sender's picture and returns the picture as
// a PNG, with the frame event that describes it (a full frame).
func (ps *pictures) apply(info FrameInfo, data []byte) (FrameInfo, []byte, error) {
	p := ps.m[info.Client]
	if p == nil {
		return info, nil, fmt.Errorf("%w: from %q before any full frame", errBadPatch, info.Client)
	}
	if p.img == nil {
		img, err := decodeImage(p.full, ps.maxPixels)
		if err != nil {
			return info, nil, fmt.Errorf("%w: the full frame of %q: %w", errBadPatch, info.Client, err)
		}
		ps.bytes -= p.size()
		p.img, p.full = img, nil
		ps.bytes += p.size()
	}
	patch, err := decodeImage(data, ps.maxPixels)
	if err != nil {
		return info, nil, fmt.Errorf("%w: %w", errBadPatch, err)
	}
	r := patch.Rect.Add(image.Pt(info.X, info.Y))
	if info.X < 0 || info.Y < 0 || !r.In(p.img.Rect) {
		return info, nil, fmt.Errorf("%w: %v outside the %v picture of %q", errBadPatch, r, p.img.Rect.Size(), info.Client)
	}
	w := 4 * patch.Rect.Dx()
	for y := 0; y < patch.Rect.Dy(); y++ {
		i := p.img.PixOffset(info.X, info.Y+y)
		copy(p.img.Pix[i:i+w], patch.Pix[y*patch.Stride:y*patch.Stride+w])
	}
	ps.set(info.Client, p)
	var b bytes.Buffer
	if err := pngEncoder.Encode(&b, p.img); err != nil {
		return info, nil, fmt.Errorf("client: encode picture: %w", err)
	}
	out := info
	out.Patch, out.X, out.Y = false, 0, 0
	out.Format, out.Width, out.Height, out.Bytes = "png", p.img.Rect.Dx(), p.img.Rect.Dy(), b.Len()
	out.raw = raw{}
	return out, b.Bytes(), nil
}

var pngEncoder = png.Encoder{CompressionLevel: png.BestSpeed}

// DecodeNRGBA decodes a PNG, JPEG, GIF or WebP (only those decoders) into
// 8-bit NRGBA at (0, 0), refusing more than maxPixels (when > 0): the
// pixels a patch applies to. 8-bit NRGBA and opaque RGBA pixels are kept
// exactly.
func DecodeNRGBA(b []byte, maxPixels int64) (*image.NRGBA, error) {
	return decodeImage(b, maxPixels)
}

func decodeImage(b []byte, maxPixels int64) (*image.NRGBA, error) {
	dec, cfg := decoderOf(b)
	if dec == nil {
		return nil, errors.New("not a PNG, JPEG, GIF or WebP image")
	}
	c, err := cfg(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if maxPixels > 0 && int64(c.Width)*int64(c.Height) > maxPixels {
		return nil, fmt.Errorf("%dx%d is over %d pixels", c.Width, c.Height, maxPixels)
	}
	img, err := dec(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return nrgba(img), nil
}

func decoderOf(b []byte) (func(io.Reader) (image.Image, error), func(io.Reader) (image.Config, error)) {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return png.Decode, png.DecodeConfig
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return jpeg.Decode, jpeg.DecodeConfig
	case bytes.HasPrefix(b, []byte("GIF8")):
		return gif.Decode, gif.DecodeConfig
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return webp.Decode, webp.DecodeConfig
	}
	return nil, nil
}

// nrgba returns img as 8-bit NRGBA at (0, 0): 8-bit NRGBA and opaque RGBA
// pixels are copied as they are, anything else goes through the NRGBA
// colour model.
func nrgba(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	switch m := img.(type) {
	case *image.NRGBA:
		for y := 0; y < b.Dy(); y++ {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			copy(out.Pix[y*out.Stride:], m.Pix[i:i+4*b.Dx()])
		}
		return out
	case *image.RGBA:
		if m.Opaque() {
			for y := 0; y < b.Dy(); y++ {
				i := m.PixOffset(b.Min.X, b.Min.Y+y)
				copy(out.Pix[y*out.Stride:], m.Pix[i:i+4*b.Dx()])
			}
			return out
		}
	}
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}
