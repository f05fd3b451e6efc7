package relay

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// whiteboard is a transparent canvas that strokes are drawn on; it
// returns the dirty rectangle of each stroke.
type whiteboard struct {
	img *image.NRGBA
	r   *rand.Rand
}

// stroke draws a short line with a round-ish 3 px brush in one colour,
// like a pen stroke of about a second, and returns its dirty rectangle.
func (w *whiteboard) stroke() image.Rectangle {
	b := w.img.Rect
	x, y := w.r.IntN(b.Dx()-120)+10, w.r.IntN(b.Dy()-120)+10
	dx, dy := w.r.IntN(200)-100, w.r.IntN(200)-100
	c := color.NRGBA{uint8(w.r.IntN(256)), uint8(w.r.IntN(256)), uint8(w.r.IntN(256)), 255}
	dirty := image.Rectangle{}
	for i := 0; i <= 100; i++ {
		px, py := x+dx*i/100, y+dy*i/100
		r := image.Rect(px-1, py-1, px+2, py+2).Intersect(b)
		for yy := r.Min.Y; yy < r.Max.Y; yy++ {
			for xx := r.Min.X; xx < r.Max.X; xx++ {
				w.img.SetNRGBA(xx, yy, c)
			}
		}
		dirty = dirty.Union(r)
	}
	return dirty
}

// BenchmarkPatchWhiteboardBytes runs a whiteboard session of 200 strokes on
// a 1280×720 layer through the relay: the sender sends each stroke's dirty
// rectangle as a patch, and a patches=1 viewer applies them. It reports
// the bytes the viewer received as patches against those it would have
// received as one full frame (PNG) per stroke, and checks that the
// viewer's picture ends identical to the sender's layer.
func BenchmarkPatchWhiteboardBytes(b *testing.B) {
	const strokes = 200
	for range b.N {
		_, u := startServer(b, Config{FrameRate: -1, ByteRate: -1})
		pub := dial(b, u, "wb", dialOpt{query: "client=pub"})
		pub.expect(TypeHello)
		view := dial(b, u, "wb", dialOpt{query: "client=view&patches=1", buffer: 1 << 12})
		view.expect(TypeHello)
		pub.expect(TypePresence)
		wb := whiteboard{img: image.NewNRGBA(image.Rect(0, 0, 1280, 720)), r: rand.New(rand.NewPCG(3, 4))}
		full := encodePNG(b, wb.img)
		pub.sendBinary(full)
		pub.expectAck(1)
		pic := picture{t: b}
		ev, img := view.nextFrame(20 * time.Second)
		pic.apply(ev.ev, img)
		var patchBytes, fullBytes int
		for i := range strokes {
			r := wb.stroke()
			patch := encodePNG(b, wb.img.SubImage(r))
			fullBytes += len(encodePNG(b, wb.img)) // what a full frame would cost
			pub.sendPatch(r.Min.X, r.Min.Y, patch)
			if m := pub.answer(nil); m.typ != TypeAck {
				b.Fatalf("stroke %d: got %s", i+1, m.data)
			}
		}
		for got := 0; got < strokes; {
			m := view.next(20 * time.Second)
			if m.op != gws.OpcodeText || m.typ != TypeFrame {
				continue
			}
			bin := view.next(20 * time.Second)
			if m.ev["patch"] != true {
				b.Fatalf("got %s, want patches only", m.data)
			}
			patchBytes += len(bin.data)
			pic.apply(m.ev, bin.data)
			got++
		}
		if err := samePixels(pic.Img, wb.img); err != nil {
			b.Fatalf("viewer's picture: %v", err)
		}
		b.ReportMetric(float64(patchBytes), "patch-bytes/op")
		b.ReportMetric(float64(fullBytes), "full-bytes/op")
		b.ReportMetric(float64(patchBytes)/float64(fullBytes), "patch/full")
	}
}

// BenchmarkCompose composes a 1280×720 layer with n patches of 100×60 for a
// plain subscriber: the work of one composed frame.
func BenchmarkCompose(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(itoa(n), func(b *testing.B) {
			srv, _ := startServer(b, Config{})
			base := NewFrameEnvelope([]byte(`{"type":"frame","client":"a"}`), encodePNG(b, noise(1280, 720, 1, true)))
			base.Client, base.Width, base.Height = "a", 1280, 720
			l := NewLog(base)
			for i := range n {
				p := NewFrameEnvelope([]byte(`{"type":"frame","client":"a","patch":true}`), encodePNG(b, noise(100, 60, uint64(i), true)))
				p.Client, p.Patch = "a", &PatchRect{X: (i * 37) % 1180, Y: (i * 23) % 660, Width: 100, Height: 60}
				if _, err := l.Append(p); err != nil {
					b.Fatal(err)
				}
			}
			last := l.Last()
			info, patches, err := srv.composeInput(last.withPrefix())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				last.local.rends = nil // no cache: compose each time
				if _, err := srv.composedOf(last, info, patches, plainOutput); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
