package bench

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestPatchesScenarioQuick runs the patches scenario in small form (8
// strokes, 3 s of typing) on real Chromium and checks that the report
// comes from the traffic: the counting viewer's bytes against the sender
// page's own counters, patch frames only where patches were sent, the
// pictures compared, and the ratios and targets computed from those bytes.
func TestPatchesScenarioQuick(t *testing.T) {
	if _, err := FindChromium(""); err != nil {
		t.Skipf("no Chromium to drive (%v); the scenario needs a real browser", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	rep, err := Run(ctx, "patches", Options{
		Quick: true, Strokes: 8, Typing: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatalf("patches: %v", err)
	}
	var out strings.Builder
	if err := rep.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if len(rep.Runs) != 4 {
		t.Fatalf("%d runs, want whiteboard and typing, each with patches and full", len(rep.Runs))
	}
	for _, r := range rep.Runs {
		p := r.Patches
		if r.Error != "" || p == nil {
			t.Fatalf("%s: %s", r.Name, r.Error)
		}
		patches := p.Mode == modePatches
		switch p.Workload {
		case WorkloadWhiteboard:
			if p.Strokes != 8 || p.Canvas != "1280x720" {
				t.Errorf("%s: %d strokes on %s, want 8 on 1280x720", r.Name, p.Strokes, p.Canvas)
			}
		case WorkloadTyping:
			if p.Typed < 5 || p.Blinks < 5 || p.Canvas != "1920x1080" {
				t.Errorf("%s: %d characters, %d blinks on %s, want about 15 and 12 on 1920x1080", r.Name, p.Typed, p.Blinks, p.Canvas)
			}
		}
		// The page sent patches only in the patches run, and the counting
		// viewers saw exactly that.
		if patches != (p.Sent.Patches > 0) || patches != (p.Viewer.PatchFrames > 0) {
			t.Errorf("%s: the page sent %d patches, the patches=1 viewer got %d patch frames", r.Name, p.Sent.Patches, p.Viewer.PatchFrames)
		}
		if p.Plain.PatchFrames != 0 {
			t.Errorf("%s: the viewer without patches=1 got %d patch frames", r.Name, p.Plain.PatchFrames)
		}
		for _, v := range []ViewerBytes{p.Viewer, p.Plain} {
			if !v.GotLast || v.Frames == 0 || v.EventBytes == 0 || v.Bytes != v.BinaryBytes+v.EventBytes {
				t.Errorf("%s: viewer (patches=%v) counts %+v", r.Name, v.Patches, v)
			}
		}
		// What the patches=1 viewer received is what the page sent, byte
		// for byte, when nothing was superseded on the way.
		if p.Viewer.Frames == p.Sent.Frames && p.Viewer.BinaryBytes != p.Sent.Bytes {
			t.Errorf("%s: viewer got %d frames, %d bytes; the page sent %d frames, %d bytes", r.Name, p.Viewer.Frames, p.Viewer.BinaryBytes, p.Sent.Frames, p.Sent.Bytes)
		}
		if p.Viewer.Frames > p.Sent.Frames {
			t.Errorf("%s: viewer got %d frames, more than the %d sent", r.Name, p.Viewer.Frames, p.Sent.Frames)
		}
		if !p.Pixels.Identical() || p.Pixels.Width == 0 {
			t.Errorf("%s: the viewer page's picture differs from the sender's: %+v", r.Name, p.Pixels)
		}
		if p.Late == nil || !p.Late.Identical() {
			t.Errorf("%s: the late viewer's picture differs from the first viewer's: %+v", r.Name, p.Late)
		}
	}
	for _, w := range []string{WorkloadWhiteboard, WorkloadTyping} {
		pr, fr := rep.run(w+"/"+modePatches).Patches, rep.run(w+"/"+modeFull).Patches
		want := float64(pr.Viewer.Bytes) / float64(fr.Viewer.Bytes)
		found := false
		for _, tg := range rep.Targets {
			if tg.Issue == 18 && strings.HasPrefix(tg.Name, w+": bytes") {
				found = true
				if tg.Value != want || tg.Applies {
					t.Errorf("%s target: value %g (applies %v), want %g from the viewer's bytes, indicative in quick form", w, tg.Value, tg.Applies, want)
				}
			}
		}
		if !found {
			t.Errorf("no issue 18 bytes target for %s in %+v", w, rep.Targets)
		}
		if want >= 1 {
			t.Errorf("%s: with patches the viewer got %d bytes, with full frames %d: patches saved nothing", w, pr.Viewer.Bytes, fr.Viewer.Bytes)
		}
	}
}

func TestFindChromiumNamesTheFlag(t *testing.T) {
	_, err := FindChromium("/nonexistent/chromium-for-bench")
	if !errors.Is(err, ErrNoChromium) || !strings.Contains(err.Error(), "--chromium") {
		t.Fatalf("got %v, want ErrNoChromium naming --chromium", err)
	}
	t.Setenv(ChromiumEnv, "")
	t.Setenv("PATH", t.TempDir())
	_, err = FindChromium("")
	if !errors.Is(err, ErrNoChromium) || !strings.Contains(err.Error(), "--chromium") || !strings.Contains(err.Error(), "$"+ChromiumEnv) {
		t.Fatalf("got %v, want ErrNoChromium naming --chromium and $%s", err, ChromiumEnv)
	}
}
