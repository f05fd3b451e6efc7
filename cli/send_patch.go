package cli

// send --watch --patches: send the changed rectangle of the watched file.

import (
	"bytes"
	"image"
	"image/png"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/client"
)

// fullEvery is how often a mirror sends a full frame at least, patches or
// not, so that the relay's layer log stays short.
const fullEvery = 30 * time.Second

// patcher is what a mirror knows of the picture the relay holds for it.
type patcher struct {
	last     *image.NRGBA // the pixels of the last content sent; nil: none
	lastFull time.Time    // when the last full frame was accepted
	needFull bool         // the relay asked for a full frame (keyframe, keyframe_needed), or reconnected
	off      bool         // the relay takes no patches (patches_unsupported)
}

// plan returns the patch to send for next, with its place, when a patch
// is worth it: the relay has this client's picture, it has the same size,
// and the changed rectangle is under half of it. same reports that no
// pixel changed.
func (p *patcher) plan(next *image.NRGBA) (x, y int, patch []byte, same, ok bool) {
	if p.off || p.needFull || p.last == nil || next == nil || p.last.Rect != next.Rect || time.Since(p.lastFull) >= fullEvery {
		return 0, 0, nil, false, false
	}
	r := changedRect(p.last, next)
	if r.Empty() {
		return 0, 0, nil, true, false
	}
	if 2*r.Dx()*r.Dy() >= next.Rect.Dx()*next.Rect.Dy() {
		return 0, 0, nil, false, false
	}
	var b bytes.Buffer
	if err := patchEncoder.Encode(&b, next.SubImage(r)); err != nil {
		return 0, 0, nil, false, false
	}
	return r.Min.X, r.Min.Y, b.Bytes(), false, true
}

var patchEncoder = png.Encoder{CompressionLevel: png.BestCompression}

// sentFull records a full frame the relay accepted.
func (p *patcher) sentFull(img *image.NRGBA) {
	p.last, p.lastFull, p.needFull = img, time.Now(), false
}

// changedRect is the smallest rectangle holding every pixel that differs
// between a and b (the same size, at (0, 0)); empty when none does.
func changedRect(a, b *image.NRGBA) image.Rectangle {
	w, h := a.Rect.Dx(), a.Rect.Dy()
	r := image.Rectangle{Min: image.Pt(w, h)}
	for y := 0; y < h; y++ {
		ra := a.Pix[y*a.Stride : y*a.Stride+4*w]
		rb := b.Pix[y*b.Stride : y*b.Stride+4*w]
		if bytes.Equal(ra, rb) {
			continue
		}
		x0 := 0
		for ; x0 < w && bytes.Equal(ra[4*x0:4*x0+4], rb[4*x0:4*x0+4]); x0++ {
		}
		x1 := w
		for ; x1 > x0 && bytes.Equal(ra[4*x1-4:4*x1], rb[4*x1-4:4*x1]); x1-- {
		}
		r.Min.X, r.Max.X = min(r.Min.X, x0), max(r.Max.X, x1)
		r.Min.Y, r.Max.Y = min(r.Min.Y, y), y+1
	}
	if r.Max.X <= r.Min.X {
		return image.Rectangle{}
	}
	return r
}

// decodeForPatches decodes content for the patcher; nil when it cannot
// (the relay judges the content itself).
func decodeForPatches(data []byte, maxPixels int64) *image.NRGBA {
	img, err := client.DecodeNRGBA(data, maxPixels)
	if err != nil {
		return nil
	}
	return img
}
