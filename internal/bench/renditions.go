package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"

	"github.com/canvasrelay/canvasrelay/relay/client"
)

// rendSpec is one rendition subscribers ask for with query parameters on
// /ws/{room} (issue 3), and what its frames must look like.
type rendSpec struct {
	Query     string `json:"query"`
	Format    string `json:"format"`
	MaxWidth  int    `json:"max_width,omitempty"`
	MaxHeight int    `json:"max_height,omitempty"`
}

// benchRenditions are the three renditions of the scenario: each needs a
// re-encode of every frame of a PNG canvas (a resize, a format change, or
// both).
var benchRenditions = []rendSpec{
	{Query: "max_width=1280&max_height=720&format=jpeg&quality=80", Format: "jpeg", MaxWidth: 1280, MaxHeight: 720},
	{Query: "max_width=640&format=jpeg", Format: "jpeg", MaxWidth: 640},
	{Query: "max_width=320&format=png", Format: "png", MaxWidth: 320},
}

// mismatch says how a received frame differs from the rendition, or "".
func (r *rendSpec) mismatch(f client.FrameInfo) string {
	switch {
	case f.Format != r.Format:
		return fmt.Sprintf("seq %d: format %q, want %q", f.Seq, f.Format, r.Format)
	case r.MaxWidth > 0 && f.Width > r.MaxWidth, r.MaxHeight > 0 && f.Height > r.MaxHeight:
		return fmt.Sprintf("seq %d: %dx%d, want within %dx%d", f.Seq, f.Width, f.Height, r.MaxWidth, r.MaxHeight)
	}
	return ""
}

// makeCanvasPNG draws something like a whiteboard (an opaque background,
// thick strokes and blocks of colour) and encodes it as a PNG, the way a
// browser's canvas.toBlob would.
func makeCanvasPNG(w, h int) ([]byte, error) {
	if w < 16 || h < 16 || w > 4096 || h > 4096 {
		return nil, fmt.Errorf("%w: canvas %dx%d: want 16 to 4096 pixels a side", ErrBadOptions, w, h)
	}
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(230 + 25*y/h), uint8(235 + 20*x/w), 250, 255})
		}
	}
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for i := 0; i < 12; i++ { // blocks
		x0, y0 := r.IntN(w), r.IntN(h)
		c := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		for y := y0; y < min(h, y0+h/6); y++ {
			for x := x0; x < min(w, x0+w/8); x++ {
				img.SetNRGBA(x, y, c)
			}
		}
	}
	for i := 0; i < 40; i++ { // strokes: a chain of discs along a curve
		c := color.NRGBA{uint8(r.IntN(200)), uint8(r.IntN(200)), uint8(r.IntN(200)), 255}
		rad := 2 + r.IntN(max(3, w/200))
		x, y := float64(r.IntN(w)), float64(r.IntN(h))
		a := r.Float64() * 2 * math.Pi
		for step := 0; step < 120; step++ {
			a += (r.Float64() - 0.5) * 0.4
			x, y = x+3*math.Cos(a), y+3*math.Sin(a)
			for dy := -rad; dy <= rad; dy++ {
				for dx := -rad; dx <= rad; dx++ {
					px, py := int(x)+dx, int(y)+dy
					if dx*dx+dy*dy <= rad*rad && px >= 0 && py >= 0 && px < w && py < h {
						img.SetNRGBA(px, py, c)
					}
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode canvas: %w", err)
	}
	return buf.Bytes(), nil
}

func runRenditionsScenario(ctx context.Context, o *Options, rep *Report) error {
	img, err := makeCanvasPNG(o.Width, o.Height)
	if err != nil {
		return err
	}
	setFanoutParams(rep, o, 0)
	rep.Params.FrameBytes = len(img)
	rep.Params.Canvas = fmt.Sprintf("%dx%d", o.Width, o.Height)
	rep.rows = renditionRows
	var errs []error
	for _, impl := range inOrder(o, []string{implRelay, implFloor}) {
		ld := fanoutLoad(o, o.roomName("rend"), 0)
		ld.img = img
		if impl == implRelay { // the floor has no renditions: everyone gets the original
			for i := range benchRenditions {
				ld.groups = append(ld.groups, subGroup{name: benchRenditions[i].Query, rend: &benchRenditions[i]})
			}
		}
		if err := fanoutRun(ctx, o, rep, impl, impl, ld); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	rel, flo := rep.run(implRelay), rep.run(implFloor)
	if rel != nil && rel.Fanout != nil {
		a := rel.Fanout
		n := float64(len(benchRenditions))
		per := ratio(a.Reencodes, float64(a.Published)*n)
		rep.Ratios = append(rep.Ratios, Ratio{Name: "re-encodes per frame per rendition", Value: per, Note: "1 = each rendition encoded once per frame, whatever the number of subscribers"})
		rep.addTarget(Target{
			Name:  "renditions: encodes per rendition per frame",
			Want:  "exactly 1",
			Got:   fmt.Sprintf("%.3f (%.0f re-encodes, %d frames, %d renditions, %d subscribers)", per, a.Reencodes, a.Published, len(benchRenditions), a.Subscribers),
			Value: per, Cmp: "==", Limit: 1,
			Applies: true,
			Note:    "below 1 means newer frames replaced older ones before their work started (latest-wins coalescing: publish slower); above 1 would be per-subscriber work",
		})
		if flo != nil && flo.Fanout != nil && a.CPUPerFrameMS > 0 && flo.Fanout.CPUPerFrameMS > 0 {
			rep.Ratios = append(rep.Ratios, Ratio{Name: "CPU per published frame, relay/floor", Value: ratio(a.CPUPerFrameMS, flo.Fanout.CPUPerFrameMS), Note: "the floor forwards the original only"})
		}
		if a.Reencodes > float64(a.Published)*n {
			errs = append(errs, fmt.Errorf("%w: %.0f re-encodes for %d frames and %d renditions: work is repeated", ErrScenarioFailed, a.Reencodes, a.Published, len(benchRenditions)))
		}
	}
	rep.note("subscribers are split evenly across %d renditions (r1, r2, r3): %s; the source is a %dx%d canvas-like PNG of %s", len(benchRenditions), renditionList(), o.Width, o.Height, iec(float64(len(img))))
	addCommonNotes(rep)
	return errors.Join(errs...)
}

func renditionList() string {
	var b bytes.Buffer
	for i, r := range benchRenditions {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.Query)
	}
	return b.String()
}

// renditionRows is the human table of a renditions run.
func renditionRows(rep *Report) []row {
	rows := fanoutRows(rep)
	add := func(label string, f func(*FanoutResult) string) {
		rw := row{label: label}
		for _, r := range rep.Runs {
			v := "-"
			if r.Fanout != nil {
				v = f(r.Fanout)
			}
			rw.vals = append(rw.vals, v)
		}
		rows = append(rows, rw)
	}
	add("re-encodes", func(f *FanoutResult) string { return fmt.Sprintf("%.0f", f.Reencodes) })
	add("renditions shared (cache hits)", func(f *FanoutResult) string { return fmt.Sprintf("%.0f", f.RenditionsShared) })
	return append(rows, groupRows(rep, "r")...)
}

// groupRows gives each subscriber group's latency, labelled by its name,
// or prefix1, prefix2, ... when prefix is set.
func groupRows(rep *Report, prefix string) []row {
	var names []string
	for _, r := range rep.Runs {
		if r.Fanout != nil && len(r.Fanout.Groups) > len(names) {
			names = names[:0]
			for _, g := range r.Fanout.Groups {
				names = append(names, g.Name)
			}
		}
	}
	var rows []row
	for i, name := range names {
		if prefix != "" {
			name = fmt.Sprintf("%s%d", prefix, i+1)
		}
		rw := row{label: name + " p50/p99 ms"}
		for _, r := range rep.Runs {
			v := "-"
			if r.Fanout != nil && i < len(r.Fanout.Groups) {
				l := r.Fanout.Groups[i].Latency
				v = fmt.Sprintf("%.1f/%.1f", l.P50, l.P99)
			}
			rw.vals = append(rw.vals, v)
		}
		rows = append(rows, rw)
	}
	return rows
}
