package imageproc

import (
	"image"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/disintegration/imaging"
)

// Resizing.
//
// The filter is a triangle ("linear", imaging.Linear) widened by the scale
// factor when shrinking, so each output pixel is a weighted average of every
// source pixel it covers and nothing aliases. Lanczos (imaging's usual
// choice) reads three times as many source pixels; its extra lobes sharpen
// photographs, but on canvas strokes and screenshots at 1x-4x reductions the
// difference is under a decibel of PSNR, below what JPEG q80 itself costs
// (TestFilterQuality measures it), so it is not worth 2x the resize time.
//
// Transparent pictures go through imaging.Resize, which weights colours by
// alpha so that transparent pixels (often stored as black) never darken the
// edges of strokes. Opaque 8-bit RGBA pictures, the common case (PNG
// screenshots and whiteboards, GIF frames), take resizeOpaque: the same
// triangle weights in 13-bit fixed point, applied to the three colour
// channels of a pixel at once by packing them in 21-bit lanes of a uint64 (a
// weighted sum of 8-bit values with weights summing to 8192 never exceeds 21
// bits). That is one multiply-add per pixel and tap instead of imaging's four
// float64 ones plus alpha weighting, which on opaque pixels is pure overhead.
// Its output matches imaging.Resize with imaging.Linear to within two levels
// per channel (TestResizeOpaqueMatchesImaging).

// resize scales img to w x h with the triangle filter. opaque tells whether
// every pixel of img is opaque (the caller has scanned it already).
//
// Reductions by 4x or more first average whole kx x ky blocks (box
// pre-shrink, alpha-weighted), so the triangle filter always works on a ratio
// below 4 and reads at most 9 source pixels per output pixel. That bounds the
// filter tables and the work of extreme shrinks (a 16384x1024 strip into a
// 320 px box) to about one pass over the source.
func resize(img image.Image, w, h int, opaque bool) image.Image {
	b := img.Bounds()
	if kx, ky := max(b.Dx()/w/2, 1), max(b.Dy()/h/2, 1); kx > 1 || ky > 1 {
		src, ok := img.(*image.RGBA)
		if ok && opaque { // opaque RGBA has the NRGBA layout: no copy
			img = boxShrink(&image.NRGBA{Pix: src.Pix, Stride: src.Stride, Rect: src.Rect}, kx, ky)
		} else {
			img = boxShrink(toNRGBA(img), kx, ky)
		}
	}
	if !opaque {
		return imaging.Resize(img, w, h, imaging.Linear)
	}
	var pix []uint8
	var stride int
	switch m := img.(type) {
	case *image.RGBA:
		pix, stride = m.Pix, m.Stride
	case *image.NRGBA:
		pix, stride = m.Pix, m.Stride
	default: // YCbCr (JPEG, WebP), Gray, Paletted (GIF): convert once
		n := toNRGBA(img)
		pix, stride = n.Pix, n.Stride
	}
	b = img.Bounds()
	return resizeOpaque(pix, stride, b.Dx(), b.Dy(), w, h)
}

// toNRGBA returns img as *image.NRGBA with its origin at (0, 0), sharing
// pixels when img already is one.
func toNRGBA(img image.Image) *image.NRGBA {
	if m, ok := img.(*image.NRGBA); ok && m.Rect.Min == (image.Point{}) {
		return m
	}
	return imaging.Clone(img)
}

// boxShrink averages kx x ky blocks of src (the last block of each row and
// column takes the remainder), weighting colours by alpha so that
// transparent pixels do not darken their neighbours.
func boxShrink(src *image.NRGBA, kx, ky int) *image.NRGBA {
	sw, sh := src.Rect.Dx(), src.Rect.Dy()
	pw, ph := max(sw/kx, 1), max(sh/ky, 1)
	dst := image.NewNRGBA(image.Rect(0, 0, pw, ph))
	span := func(i, k, n, size int) (int, int) { // block i of n over size
		if i == n-1 {
			return i * k, size
		}
		return i * k, i*k + k
	}
	parallelRows(ph, func(y0, y1 int) {
		acc := make([]uint64, pw*4) // per block: a, r*a, g*a, b*a
		for oy := y0; oy < y1; oy++ {
			clear(acc)
			ya, yb := span(oy, ky, ph, sh)
			for y := ya; y < yb; y++ {
				row := src.Pix[y*src.Stride : y*src.Stride+sw*4]
				for ox := 0; ox < pw; ox++ {
					xa, xb := span(ox, kx, pw, sw)
					s := acc[ox*4 : ox*4+4 : ox*4+4]
					for x := xa; x < xb; x++ {
						p := row[x*4 : x*4+4 : x*4+4]
						a := uint64(p[3])
						s[0] += a
						s[1] += uint64(p[0]) * a
						s[2] += uint64(p[1]) * a
						s[3] += uint64(p[2]) * a
					}
				}
			}
			drow := dst.Pix[oy*dst.Stride : oy*dst.Stride+pw*4]
			for ox := 0; ox < pw; ox++ {
				s := acc[ox*4 : ox*4+4 : ox*4+4]
				if s[0] == 0 {
					continue // fully transparent block stays 0, 0, 0, 0
				}
				xa, xb := span(ox, kx, pw, sw)
				n := uint64((xb - xa) * (yb - ya))
				d := drow[ox*4 : ox*4+4 : ox*4+4]
				d[0] = uint8((s[1] + s[0]/2) / s[0])
				d[1] = uint8((s[2] + s[0]/2) / s[0])
				d[2] = uint8((s[3] + s[0]/2) / s[0])
				d[3] = uint8((s[0] + n/2) / n)
			}
		}
	})
	return dst
}

// weightBits is the fixed-point precision of tap weights: the weights of an
// output pixel sum to 1<<weightBits, so 255<<weightBits plus the rounding
// half fits a 21-bit lane.
const weightBits = 13

// A packed pixel holds R, G and B in bits 0-20, 21-41 and 42-62.
const (
	laneG    = 21
	laneB    = 42
	laneMask = 0xff | 0xff<<laneG | 0xff<<laneB // an 8-bit value in each lane
	laneHalf = 1<<(weightBits-1) | 1<<(laneG+weightBits-1) | 1<<(laneB+weightBits-1)
)

func pack(p []uint8) uint64 {
	return uint64(p[0]) | uint64(p[1])<<laneG | uint64(p[2])<<laneB
}

// tap is one source index and its fixed-point weight.
type tap struct {
	idx int32
	w   int32
}

// triangleWeights returns, for each of dst output positions, the source
// positions and weights of a triangle filter scaled for src -> dst. The
// weights of each output are positive and sum to exactly 1<<weightBits.
func triangleWeights(dst, src int) [][]tap {
	ratio := float64(src) / float64(dst)
	scale := max(ratio, 1) // widen the filter when shrinking
	radius := scale        // triangle support is 1 source pixel at scale 1
	out := make([][]tap, dst)
	all := make([]tap, 0, dst*(int(2*radius)+2))
	fw := make([]float64, 0, int(2*radius)+2)
	for x := range dst {
		center := (float64(x)+0.5)*ratio - 0.5
		lo := max(int(math.Ceil(center-radius)), 0)
		hi := min(int(math.Floor(center+radius)), src-1)
		fw = fw[:0]
		var sum float64
		for i := lo; i <= hi; i++ {
			w := max(1-math.Abs(float64(i)-center)/scale, 0)
			fw = append(fw, w)
			sum += w
		}
		if sum == 0 { // unreachable for a triangle; keep the nearest pixel
			fw = append(fw[:0], 1)
			lo, sum = min(max(int(math.Round(center)), 0), src-1), 1
		}
		// Largest-remainder rounding: floors, then +1 for the largest
		// fractions until the weights sum to exactly 1<<weightBits.
		start := len(all)
		left := 1 << weightBits
		for k, w := range fw {
			v := w / sum * (1 << weightBits)
			fw[k] = v - math.Floor(v) // keep the fraction
			iw := int32(v)
			left -= int(iw)
			all = append(all, tap{idx: int32(lo + k), w: iw})
		}
		ts := all[start:]
		for ; left > 0; left-- {
			best := 0
			for k := range fw {
				if fw[k] > fw[best] {
					best = k
				}
			}
			ts[best].w++
			fw[best] = -1
		}
		// Drop zero weights.
		ts = slices.DeleteFunc(ts, func(t tap) bool { return t.w == 0 })
		all = all[:start+len(ts)]
		out[x] = all[start:len(all):len(all)]
	}
	return out
}

// flatTaps holds n taps per output position, padded with zero weights, as
// two flat arrays of source indexes and weights.
type flatTaps struct {
	n   int
	idx []int32
	w   []uint64
}

func flatWeights(taps [][]tap) flatTaps {
	n := 0
	for _, t := range taps {
		n = max(n, len(t))
	}
	f := flatTaps{n: n, idx: make([]int32, n*len(taps)), w: make([]uint64, n*len(taps))}
	for x, t := range taps {
		for k, tp := range t {
			f.idx[x*n+k] = tp.idx
			f.w[x*n+k] = uint64(tp.w)
		}
		for k := len(t); k < n; k++ { // padding: weight 0 on a valid index
			f.idx[x*n+k] = f.idx[x*n]
		}
	}
	return f
}

// resizeOpaque scales an opaque 8-bit RGBA/NRGBA pixel buffer (alpha is
// ignored and written as 255) from sw x sh to dw x dh. Output rows are made
// in chunks of resizeChunk, spread over GOMAXPROCS goroutines: each chunk
// runs the horizontal pass on just the source rows its vertical taps need
// (packed, 8 bytes a pixel, in a per-goroutine buffer that stays in cache),
// then the vertical pass. Chunks overlap by a few source rows, which costs a
// few percent of recomputation and saves a full-size intermediate picture.
func resizeOpaque(pix []uint8, stride, sw, sh, dw, dh int) *image.RGBA {
	xw := flatWeights(triangleWeights(dw, sw))
	yw := triangleWeights(dh, sh)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	chunks := (dh + resizeChunk - 1) / resizeChunk
	var next atomic.Int64
	spread(min(runtime.GOMAXPROCS(0), chunks), func() {
		var band []uint64 // horizontal results for source rows lo..hi
		ex := make([]uint64, sw)
		acc := make([]uint64, dw)
		for {
			c := int(next.Add(1)) - 1
			if c >= chunks {
				return
			}
			y0, y1 := c*resizeChunk, min(c*resizeChunk+resizeChunk, dh)
			lo, hi := int(yw[y0][0].idx), int(yw[y1-1][len(yw[y1-1])-1].idx)
			band = slices.Grow(band[:0], (hi-lo+1)*dw)[:(hi-lo+1)*dw]
			for y := lo; y <= hi; y++ {
				horizontal(pix[y*stride:y*stride+sw*4], ex, band[(y-lo)*dw:(y-lo+1)*dw], xw)
			}
			for y := y0; y < y1; y++ {
				clear(acc)
				for _, t := range yw[y] {
					row := band[(int(t.idx)-lo)*dw : (int(t.idx)-lo+1)*dw]
					w := uint64(t.w)
					for i, v := range row {
						acc[i] += v * w
					}
				}
				drow := dst.Pix[y*dst.Stride : y*dst.Stride+dw*4]
				for x, v := range acc {
					v = (v + laneHalf) >> weightBits & laneMask
					d := drow[x*4 : x*4+4 : x*4+4]
					d[0], d[1], d[2], d[3] = uint8(v), uint8(v>>laneG), uint8(v>>laneB), 255
				}
			}
		}
	})
	return dst
}

// resizeChunk is the number of output rows made together by resizeOpaque.
const resizeChunk = 32

// horizontal filters one source row (RGBA bytes) into out, packed; ex is
// scratch space of one packed source row.
func horizontal(src []uint8, ex, out []uint64, xw flatTaps) {
	for i := range ex {
		ex[i] = pack(src[i*4 : i*4+3 : i*4+3])
	}
	n := xw.n
	for x := range out {
		idx := xw.idx[x*n : x*n+n : x*n+n]
		ws := xw.w[x*n : x*n+n : x*n+n]
		var acc uint64
		for k, i := range idx {
			acc += ex[i] * ws[k]
		}
		out[x] = (acc + laneHalf) >> weightBits & laneMask
	}
}

// parallelRows calls f on contiguous row ranges covering [0, n), one range
// per goroutine, at most GOMAXPROCS of them (and 16 rows at least each), and
// waits.
func parallelRows(n int, f func(y0, y1 int)) {
	workers := min(runtime.GOMAXPROCS(0), max(n/16, 1))
	step := (n + workers - 1) / workers
	var next atomic.Int64
	spread(workers, func() {
		for {
			y0 := int(next.Add(1)-1) * step
			if y0 >= n {
				return
			}
			f(y0, min(y0+step, n))
		}
	})
}

// spread runs f on n goroutines (the caller's included) and waits for all.
func spread(n int, f func()) {
	var wg sync.WaitGroup
	for range n - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	f()
	wg.Wait()
}
