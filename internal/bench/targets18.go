package bench

import "fmt"

// Issue 18's targets for the patches scenario: what a viewer that asks for
// patches receives, against what the same viewer receives when the page
// sends full frames only, and the viewer's picture at the end.
const (
	wantWhiteboardShare = 1.0 / 10 // whiteboard: viewer bytes with patches / with full frames
	wantTypingShare     = 1.0 / 4  // typing
)

// patchesIssue18 adds the ratios and targets of issue 18.
func patchesIssue18(rep *Report, o *Options) {
	rep.Params.Concurrency = 0
	for _, w := range []struct {
		name  string
		limit float64
		param bool // the run has the issue's parameters
	}{
		{WorkloadWhiteboard, wantWhiteboardShare, o.Strokes == 200},
		{WorkloadTyping, wantTypingShare, o.Typing.Seconds() >= 30 && o.ShareQuality == 1},
	} {
		p, f := rep.run(w.name+"/"+modePatches), rep.run(w.name+"/"+modeFull)
		if p == nil || p.Patches == nil {
			continue
		}
		pr := p.Patches
		if f != nil && f.Patches != nil && f.Error == "" && p.Error == "" {
			fr := f.Patches
			share := ratio(float64(pr.Viewer.Bytes), float64(fr.Viewer.Bytes))
			rep.Ratios = append(rep.Ratios,
				Ratio{Name: w.name + ": viewer bytes, patches/full", Value: share, Note: fmt.Sprintf("%s vs %s, patches=1 viewer", iec(float64(pr.Viewer.Bytes)), iec(float64(fr.Viewer.Bytes)))},
				Ratio{Name: w.name + ": plain viewer bytes, patches/full", Value: ratio(float64(pr.Plain.Bytes), float64(fr.Plain.Bytes)), Note: "a viewer without patches=1 gets composed full frames"},
				Ratio{Name: w.name + ": sender bytes, patches/full", Value: ratio(float64(pr.Sent.Bytes), float64(fr.Sent.Bytes)), Note: "what the page encoded and sent"},
			)
			if pr.Strokes > 0 && fr.Strokes > 0 {
				rep.Ratios = append(rep.Ratios, Ratio{Name: w.name + ": viewer bytes per stroke, patches/full", Value: ratio(float64(pr.Viewer.Bytes)/float64(pr.Strokes), float64(fr.Viewer.Bytes)/float64(fr.Strokes)), Note: "evens out a run cut short"})
			}
			rep.addTarget(Target{
				Issue: 18, Name: w.name + ": bytes a patches=1 viewer receives",
				Want:  fmt.Sprintf("<= 1/%.0f of the full-frame run's", 1/w.limit),
				Got:   fmt.Sprintf("%.3f (1/%.1f: %s vs %s)", share, 1/max(share, 1e-9), iec(float64(pr.Viewer.Bytes)), iec(float64(fr.Viewer.Bytes))),
				Value: share, Cmp: "<=", Limit: w.limit, Applies: w.param,
			})
		}
		for _, r := range []*RunResult{p, f} {
			if r == nil || r.Patches == nil || r.Error != "" {
				continue
			}
			x := r.Patches
			rep.addTarget(Target{
				Issue: 18, Name: r.Name + ": viewer's picture at the end",
				Want:  "pixel-identical to the sender's",
				Got:   fmt.Sprintf("%d of %d pixels differ (max channel delta %d)", x.Pixels.Mismatch, x.Pixels.Width*x.Pixels.Height, x.Pixels.MaxDelta),
				Value: float64(x.Pixels.Mismatch), Cmp: "==", Limit: 0, Applies: w.param && r.Name == p.Name,
			})
		}
	}
	rep.note("bytes are WebSocket payload bytes of frame events and binary frames received by two subscribers on bare gws in the room: one with patches=1 (as the pages connect) and one without (full frames composed by the relay); the viewer page's canvas is read back as RGBA and compared exactly with the sender's (the drawer's #destination, or the stand-in screen canvas)")
	if o.ShareQuality < 1 && o.Typing > 0 {
		rep.note("typing shares lossy WebP (quality %g): the viewer's picture cannot equal the screen's pixel for pixel; --share-quality 1 (the default) encodes losslessly", o.ShareQuality)
	}
	rep.note("the full run is the same scripted workload with the page opened with ?patches=0, which makes it send full frames only, as before patch frames")
}

// patchRows is the human table of patches runs.
func patchRows(rep *Report) []row {
	var rows []row
	add := func(label string, f func(*PatchesResult) string) {
		rw := row{label: label}
		for _, r := range rep.Runs {
			v := "-"
			if r.Patches != nil {
				v = f(r.Patches)
			}
			rw.vals = append(rw.vals, v)
		}
		rows = append(rows, rw)
	}
	add("canvas", func(p *PatchesResult) string { return p.Canvas })
	add("strokes / chars typed", func(p *PatchesResult) string {
		if p.Workload == WorkloadTyping {
			return fmt.Sprintf("%d chars, %d blinks", p.Typed, p.Blinks)
		}
		return fmt.Sprint(p.Strokes)
	})
	add("workload seconds", func(p *PatchesResult) string { return fmt.Sprintf("%.1f", p.Seconds) })
	add("sent frames (patches)", func(p *PatchesResult) string { return fmt.Sprintf("%d (%d)", p.Sent.Frames, p.Sent.Patches) })
	add("sent bytes (in patches)", func(p *PatchesResult) string {
		return fmt.Sprintf("%s (%s)", iec(float64(p.Sent.Bytes)), iec(float64(p.Sent.PatchBytes)))
	})
	add("viewer frames (patches)", func(p *PatchesResult) string {
		return fmt.Sprintf("%d (%d)", p.Viewer.Frames, p.Viewer.PatchFrames)
	})
	add("viewer bytes (patches=1)", func(p *PatchesResult) string { return iec(float64(p.Viewer.Bytes)) })
	add("viewer got last frame", func(p *PatchesResult) string { return fmt.Sprint(p.Viewer.GotLast) })
	add("plain viewer frames", func(p *PatchesResult) string { return fmt.Sprint(p.Plain.Frames) })
	add("plain viewer bytes", func(p *PatchesResult) string { return iec(float64(p.Plain.Bytes)) })
	add("formats: viewer / plain", func(p *PatchesResult) string { return p.Viewer.Formats + " / " + p.Plain.Formats })
	add("viewer page vs sender, px differ", func(p *PatchesResult) string {
		return fmt.Sprintf("%d (max %d)", p.Pixels.Mismatch, p.Pixels.MaxDelta)
	})
	add("late viewer vs viewer, px differ", func(p *PatchesResult) string {
		if p.Late == nil {
			return "-"
		}
		return fmt.Sprint(p.Late.Mismatch)
	})
	add("sender reconnects", func(p *PatchesResult) string { return fmt.Sprint(p.Reconnects) })
	return rows
}
