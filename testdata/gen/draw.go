package main

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
)

// stroke draws an anti-aliased round-capped polyline of radius r onto dst,
// compositing "source over" like a browser canvas does.
func stroke(dst *image.NRGBA, pts []point, r float64, c color.NRGBA) {
	for i := 1; i < len(pts); i++ {
		segment(dst, pts[i-1], pts[i], r, c)
	}
}

type point struct{ x, y float64 }

func segment(dst *image.NRGBA, a, b point, r float64, c color.NRGBA) {
	minX := int(math.Floor(math.Min(a.x, b.x) - r - 1))
	maxX := int(math.Ceil(math.Max(a.x, b.x) + r + 1))
	minY := int(math.Floor(math.Min(a.y, b.y) - r - 1))
	maxY := int(math.Ceil(math.Max(a.y, b.y) + r + 1))
	bounds := dst.Bounds()
	dx, dy := b.x-a.x, b.y-a.y
	l2 := dx*dx + dy*dy
	for y := max(minY, bounds.Min.Y); y < min(maxY, bounds.Max.Y); y++ {
		for x := max(minX, bounds.Min.X); x < min(maxX, bounds.Max.X); x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			t := 0.0
			if l2 > 0 {
				t = math.Max(0, math.Min(1, ((px-a.x)*dx+(py-a.y)*dy)/l2))
			}
			ex, ey := px-(a.x+t*dx), py-(a.y+t*dy)
			d := math.Sqrt(ex*ex + ey*ey)
			cov := math.Max(0, math.Min(1, r+0.5-d))
			if cov > 0 {
				blend(dst, x, y, c, cov)
			}
		}
	}
}

// blend composites c with coverage cov over the pixel at (x, y) (non-premultiplied).
func blend(dst *image.NRGBA, x, y int, c color.NRGBA, cov float64) {
	i := dst.PixOffset(x, y)
	p := dst.Pix[i : i+4 : i+4]
	sa := float64(c.A) / 255 * cov
	da := float64(p[3]) / 255
	oa := sa + da*(1-sa)
	if oa == 0 {
		return
	}
	mix := func(s, d uint8) uint8 {
		v := (float64(s)*sa + float64(d)*da*(1-sa)) / oa
		return uint8(math.Round(v))
	}
	p[0], p[1], p[2] = mix(c.R, p[0]), mix(c.G, p[1]), mix(c.B, p[2])
	p[3] = uint8(math.Round(oa * 255))
}

// canvas draws a whiteboard-like picture: n random wobbly strokes of radius
// up to maxR on a background bg (use a zero color for a transparent canvas layer).
func canvas(w, h, n int, maxR float64, bg color.NRGBA, seed uint64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	if bg.A != 0 {
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = bg.R, bg.G, bg.B, bg.A
		}
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	palette := []color.NRGBA{
		{0xe5, 0x39, 0x35, 0xff}, {0x1e, 0x88, 0xe5, 0xff}, {0x43, 0xa0, 0x47, 0xff},
		{0xfb, 0x8c, 0x00, 0xff}, {0x21, 0x21, 0x21, 0xff}, {0x8e, 0x24, 0xaa, 0xc0},
	}
	scale := float64(min(w, h))
	for s := 0; s < n; s++ {
		pts := make([]point, 12)
		p := point{rng.Float64() * float64(w), rng.Float64() * float64(h)}
		ang := rng.Float64() * 2 * math.Pi
		for i := range pts {
			pts[i] = p
			ang += (rng.Float64() - 0.5) * 1.2
			step := scale / 16
			p = point{p.x + math.Cos(ang)*step, p.y + math.Sin(ang)*step}
		}
		r := 0.5 + rng.Float64()*(maxR-0.5)
		stroke(img, pts, r, palette[rng.IntN(len(palette))])
	}
	return img
}

// gradient fills the rectangle r of img with a smooth two-axis gradient,
// standing in for a photo or a screenshot's image area.
func gradient(img *image.NRGBA, r image.Rectangle) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			fx := float64(x-r.Min.X) / float64(r.Dx())
			fy := float64(y-r.Min.Y) / float64(r.Dy())
			i := img.PixOffset(x, y)
			img.Pix[i+0] = uint8(40 + 200*fx)
			img.Pix[i+1] = uint8(60 + 150*fy)
			img.Pix[i+2] = uint8(200 - 120*fx*fy)
			img.Pix[i+3] = 0xff
		}
	}
}
