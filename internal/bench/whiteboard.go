package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// Whiteboard workload: strokes of varied length, shape, place, colour and
// width, drawn with real mouse input (CDP) on the board's 1280×720 layer,
// all from Options.Seed. Between strokes the bench waits until the page has
// handed its snapshot to the socket (nothing dirty, nothing encoding), and
// pauses a little, as a person does.
const (
	strokeMoveGap = 12 * time.Millisecond // between pointer moves (about 80 Hz)
	strokeMinMove = 6
	strokeMaxMove = 40
	strokeWait    = 15 * time.Second // at most, for the page to send a stroke
)

// stroke is one stroke in fractions of the board.
type stroke struct {
	pts   [][2]float64
	color string
	width int
}

// makeStrokes returns n strokes from seed: each a smooth random walk of
// 6 to 40 steps of 0.3 to 1.2% of the board's width, starting anywhere.
func makeStrokes(n int, seed uint64) []stroke {
	rng := rand.New(rand.NewPCG(seed, 18))
	palette := []string{"#1f6feb", "#e61414", "#14aa3c", "#222222", "#f0a000", "#8a2be2"}
	out := make([]stroke, n)
	color, width := palette[0], 6
	for i := range out {
		if i%10 == 0 {
			color = palette[rng.IntN(len(palette))]
			width = 2 + rng.IntN(10)
		}
		x, y := 0.05+0.9*rng.Float64(), 0.05+0.9*rng.Float64()
		a := rng.Float64() * 2 * math.Pi
		steps := strokeMinMove + rng.IntN(strokeMaxMove-strokeMinMove+1)
		pts := [][2]float64{{x, y}}
		for range steps {
			a += rng.NormFloat64() * 0.35
			d := 0.003 + 0.009*rng.Float64()
			x = min(0.99, max(0.01, x+d*math.Cos(a)))
			y = min(0.99, max(0.01, y+d*math.Sin(a)*16/9))
			pts = append(pts, [2]float64{x, y})
		}
		out[i] = stroke{pts: pts, color: color, width: width}
	}
	return out
}

type box struct{ X, Y, W, H float64 }

func runWhiteboard(ctx context.Context, r *patchRun) error {
	p := r.sender
	var b box
	if err := p.eval(`(() => { const r = document.getElementById("source").getBoundingClientRect(); return {X: r.x, Y: r.y, W: r.width, H: r.height}; })()`, &b); err != nil {
		return err
	}
	if b.W == 0 || b.H == 0 {
		return fmt.Errorf("%w: the board's #source has no size", ErrScenarioFailed)
	}
	var size struct{ W, H int }
	if err := p.eval(`(() => { const c = document.getElementById("source"); return {W: c.width, H: c.height}; })()`, &size); err != nil {
		return err
	}
	r.res.Canvas = fmt.Sprintf("%dx%d", size.W, size.H)
	strokes := makeStrokes(r.o.Strokes, uint64(r.o.Seed))
	pause := rand.New(rand.NewPCG(uint64(r.o.Seed), 7))
	start := time.Now()
	color, width := "", 0
	for i, s := range strokes {
		if ctx.Err() != nil || time.Since(start) > r.o.Duration {
			break
		}
		if s.color != color || s.width != width {
			color, width = s.color, s.width
			js := fmt.Sprintf(`(() => {
  const c = document.getElementById("color"); c.value = %q; c.dispatchEvent(new Event("input"));
  const w = document.getElementById("width"); w.value = %q; w.dispatchEvent(new Event("input"));
  return true; })()`, color, fmt.Sprint(width))
			if err := p.eval(js, nil); err != nil {
				return err
			}
		}
		if err := p.mouse(strokeEvents(s, b), strokeMoveGap); err != nil {
			return err
		}
		if err := p.waitTrue("!window.canvasrelay.publishing", strokeWait); err != nil {
			return fmt.Errorf("stroke %d: %w", i, err)
		}
		r.res.Strokes++
		time.Sleep(time.Duration(20+pause.IntN(120)) * time.Millisecond)
	}
	r.res.Seconds = time.Since(start).Seconds()
	if err := senderCounts(p, r.res); err != nil {
		return err
	}
	if err := r.finish(`document.getElementById("destination")`); err != nil {
		return err
	}
	return senderCounts(p, r.res)
}

// strokeEvents turns s into mouse events on the element at b.
func strokeEvents(s stroke, b box) []input.DispatchMouseEventParams {
	at := func(p [2]float64) (float64, float64) { return b.X + p[0]*b.W, b.Y + p[1]*b.H }
	x, y := at(s.pts[0])
	ev := []input.DispatchMouseEventParams{
		{Type: chromedp.MouseMoved, X: x, Y: y},
		{Type: chromedp.MousePressed, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: 1, ClickCount: 1},
	}
	for _, p := range s.pts[1:] {
		x, y = at(p)
		ev = append(ev, input.DispatchMouseEventParams{Type: chromedp.MouseMoved, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: 1})
	}
	return append(ev, input.DispatchMouseEventParams{Type: chromedp.MouseReleased, X: x, Y: y, Button: input.MouseButtonLeft, ClickCount: 1})
}

// senderCounts reads the whiteboard page's publisher counters.
func senderCounts(p *tab, res *PatchesResult) error {
	var c struct{ PatchesSent, FullSent, PatchBytes, FullBytes int64 }
	if err := p.eval(`({PatchesSent: window.canvasrelay.patchesSent, FullSent: window.canvasrelay.fullSent, PatchBytes: window.canvasrelay.patchBytes, FullBytes: window.canvasrelay.fullBytes})`, &c); err != nil {
		return err
	}
	res.Sent = SenderCounts{
		Frames: int(c.PatchesSent + c.FullSent), Patches: int(c.PatchesSent),
		Bytes: c.PatchBytes + c.FullBytes, PatchBytes: c.PatchBytes,
	}
	return nil
}
