package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/web"
)

// The patches scenario (issue 18): two scripted workloads on the real pages,
// in headless Chromium, each run twice in one invocation: once as the page
// sends (patches), once with the page sending full frames only (?patches=0).
// In both, the same viewers watch: a viewer page (/v/ROOM, patches=1) whose
// picture is compared pixel for pixel with the sender's, and two counting
// subscribers, one with patches=1 and one without (composed full frames).

// Workloads and modes of the patches scenario.
const (
	WorkloadWhiteboard = "whiteboard"
	WorkloadTyping     = "typing"
	modePatches        = "patches"
	modeFull           = "full"
)

// PatchesResult is one run of a patches workload.
type PatchesResult struct {
	Workload string  `json:"workload"`
	Mode     string  `json:"mode"`   // "patches" or "full" (the page sent full frames only)
	Canvas   string  `json:"canvas"` // the sender's picture, WxH
	Seconds  float64 `json:"seconds"`
	// Whiteboard: strokes drawn with mouse input. Typing: characters typed
	// and cursor blinks on the stand-in screen.
	Strokes int `json:"strokes,omitempty"`
	Typed   int `json:"typed,omitempty"`
	Blinks  int `json:"blinks,omitempty"`
	// Sent is what the sender page says it sent.
	Sent SenderCounts `json:"sent"`
	// Viewer asked for patches=1, as the pages do; Plain did not, and gets
	// full frames composed by the relay.
	Viewer ViewerBytes `json:"viewer"`
	Plain  ViewerBytes `json:"plain"`
	// Pixels compares the viewer page's picture at the end with the
	// sender's (the drawer's canvas, or the stand-in screen); Late compares
	// a viewer page opened after the workload with the first viewer.
	Pixels PixelDiff  `json:"pixels"`
	Late   *PixelDiff `json:"late_viewer,omitempty"`
	// Reconnects counts the sender's extra hellos (a loaded machine may
	// drop a socket).
	Reconnects int `json:"reconnects,omitempty"`
}

// SenderCounts are the sender page's own counters.
type SenderCounts struct {
	Frames     int   `json:"frames"`  // images sent: full frames and patches
	Patches    int   `json:"patches"` // patch images
	Bytes      int64 `json:"bytes"`
	PatchBytes int64 `json:"patch_bytes"`
	Skipped    int   `json:"skipped,omitempty"` // screen share: unchanged frames not sent
}

// pageServer is a relay with the web pages on one 127.0.0.1 port.
type pageServer struct {
	*localServer
	base string // http://host:port
	ws   string // ws://host:port
}

func startPageServer(o *Options) (*pageServer, error) {
	srv, err := relay.New(relay.Config{}, o.ServerLogger)
	if err != nil {
		return nil, fmt.Errorf("start relay: %w", err)
	}
	mux := http.NewServeMux()
	rh := srv.Handler()
	for _, p := range []string{"/ws/", "/healthz", "/metrics"} {
		mux.Handle(p, rh)
	}
	mux.Handle("/", web.Handler())
	ls, err := serveLocal(o, srv, mux)
	if err != nil {
		return nil, err
	}
	return &pageServer{localServer: ls, base: "http://" + ls.host, ws: "ws://" + ls.host}, nil
}

// patchRun is what one run has open: the sender and viewer pages and the
// counting viewers.
type patchRun struct {
	o       *Options
	srv     *pageServer
	br      *browser
	room    string
	mode    string
	quality float64 // typing: the share's encoder quality
	res     *PatchesResult
	sender  *tab
	viewer  *tab
	counted *countingViewer // patches=1
	plain   *countingViewer // no patches=1
}

// open joins the counting viewers and the viewer page to a new room, then
// opens the sender page at path (/r/ROOM, with ?patches=0 for full).
func (r *patchRun) open(ctx context.Context) error {
	var err error
	if r.counted, err = dialCountingViewer(ctx, r.srv.ws, r.room, "bench-viewer", true); err != nil {
		return err
	}
	if r.plain, err = dialCountingViewer(ctx, r.srv.ws, r.room, "bench-plain", false); err != nil {
		return err
	}
	hello := "window.canvasrelay && window.canvasrelay.hellos >= 1"
	if r.viewer, err = r.br.open("viewer", r.srv.base+"/v/"+url.PathEscape(r.room), 1280, 800, hello); err != nil {
		return err
	}
	path := "/r/" + url.PathEscape(r.room)
	if r.mode == modeFull {
		path += "?patches=0"
	}
	if r.sender, err = r.br.open("sender", r.srv.base+path, 1400, 900, hello+" && window.canvasrelay.encodesInWorker"); err != nil {
		return err
	}
	var sends bool
	if err := r.sender.eval("window.canvasrelay.sendsPatches", &sends); err != nil {
		return err
	}
	if sends != (r.mode == modePatches) {
		return fmt.Errorf("%w: the sender page says sendsPatches=%v in the %s run", ErrScenarioFailed, sends, r.mode)
	}
	return nil
}

func (r *patchRun) close() {
	for _, t := range []*tab{r.sender, r.viewer} {
		if t != nil {
			t.close()
		}
	}
	for _, v := range []*countingViewer{r.counted, r.plain} {
		if v != nil {
			v.close()
		}
	}
}

// finish waits for the viewers to have the sender's last frame, reads
// their counts, and compares the viewer page's picture with the sender's
// canvas (senderCanvas, a JS expression), read once the sender settled. A
// viewer page opened then (the layer log) is compared with the first.
func (r *patchRun) finish(senderCanvas string) error {
	var info struct {
		Sent    int64 `json:"sent"`
		Unacked int   `json:"unacked"`
	}
	if err := r.sender.waitTrue("window.canvasrelay.info && window.canvasrelay.info.unacked === 0", 20*time.Second); err != nil {
		return err
	}
	if err := r.sender.eval("window.canvasrelay.info", &info); err != nil {
		return err
	}
	var hellos int
	if err := r.sender.eval("window.canvasrelay.hellos", &hellos); err == nil {
		r.res.Reconnects = hellos - 1
	}
	got := r.counted.waitSeq(info.Sent, 20*time.Second)
	gotPlain := r.plain.waitSeq(info.Sent, 20*time.Second)
	want, err := r.sender.pixels(senderCanvas)
	if err != nil {
		return err
	}
	// The viewer page decodes and draws asynchronously: give it until its
	// picture matches (bounded), then compare exactly.
	hash := pictureHashJS(senderCanvas)
	var wantHash string
	if err := r.sender.eval(hash, &wantHash); err != nil {
		return err
	}
	waitPicture(r.viewer, wantHash, 20*time.Second)
	seen, err := r.viewer.pixels(`document.getElementById("destination")`)
	if err != nil {
		return err
	}
	r.res.Pixels = comparePixels(seen, want)
	if r.o.Pictures != "" {
		name := r.res.Workload + "-" + r.res.Mode
		for _, p := range []struct {
			who string
			px  *rgba
		}{{"sender", want}, {"viewer", seen}} {
			if err := writePNG(filepath.Join(r.o.Pictures, name+"-"+p.who+".png"), p.px); err != nil {
				return err
			}
		}
	}
	r.res.Viewer, r.res.Plain = r.counted.result(), r.plain.result()
	r.res.Viewer.GotLast, r.res.Plain.GotLast = got, gotPlain

	late, err := r.br.open("late viewer", r.srv.base+"/v/"+url.PathEscape(r.room), 1280, 800, "window.canvasrelay && window.canvasrelay.frames >= 1")
	if err != nil {
		return err
	}
	defer late.close()
	seenHash := ""
	_ = r.viewer.eval(pictureHashJS(`document.getElementById("destination")`), &seenHash)
	waitPicture(late, seenHash, 20*time.Second)
	lp, err := late.pixels(`document.getElementById("destination")`)
	if err != nil {
		return err
	}
	d := comparePixels(lp, seen)
	r.res.Late = &d
	return nil
}

// waitPicture waits until t's #destination hashes to want, or has stayed
// the same for 2 s (a lossy picture never matches), at most timeout.
func waitPicture(t *tab, want string, timeout time.Duration) {
	js := pictureHashJS(`document.getElementById("destination")`)
	deadline := time.Now().Add(timeout)
	last, since := "", time.Now()
	for time.Now().Before(deadline) {
		var h string
		if err := t.eval(js, &h); err != nil || h == want {
			return
		}
		if h != last {
			last, since = h, time.Now()
		} else if time.Since(since) >= 2*time.Second {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pictureHashJS is JS for the size and an FNV-1a hash of a canvas's pixels.
func pictureHashJS(canvasExpr string) string {
	return `(() => {
  const c = ` + canvasExpr + `;
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let h = 0x811c9dc5;
  for (let i = 0; i < d.length; i++) { h ^= d[i]; h = Math.imul(h, 0x01000193); }
  return c.width + "x" + c.height + ":" + (h >>> 0);
})()`
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// runPatchesScenario runs the whiteboard and the typing workloads, each
// with patches and then with full frames only.
func runPatchesScenario(ctx context.Context, o *Options, rep *Report) error {
	path, err := FindChromium(o.Chromium)
	if err != nil {
		return err
	}
	srv, err := startPageServer(o)
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.close(); err != nil {
			o.Logger.Warn("closing relay", "err", err)
		}
	}()
	rep.Relay = "in-process " + srv.base + " (relay.New defaults, memory broker, with the web pages)"
	rep.Floor = "none: each workload runs again with the page sending full frames only (?patches=0)"
	br, err := startBrowser(path)
	if err != nil {
		return err
	}
	defer br.close()
	rep.Params.Browser = path
	rep.Params.Seed = o.Seed
	if o.Workload != WorkloadTyping {
		rep.Params.Strokes = o.Strokes
	}
	if o.Workload != WorkloadWhiteboard {
		rep.Params.Typing = o.Typing.Seconds()
		rep.Params.ShareQuality = o.ShareQuality
	}
	rep.rows = patchRows

	var errs []error
	for _, w := range []string{WorkloadWhiteboard, WorkloadTyping} {
		if o.Workload != "" && o.Workload != w {
			continue
		}
		for _, mode := range []string{modePatches, modeFull} {
			if ctx.Err() != nil {
				break
			}
			name := w + "/" + mode
			o.Logger.Info("patches run", "run", name)
			res := &PatchesResult{Workload: w, Mode: mode}
			run := &patchRun{o: o, srv: srv, br: br, room: o.roomName("patches-" + w), mode: mode, res: res, quality: o.ShareQuality}
			err := func() error {
				defer run.close()
				if err := run.open(ctx); err != nil {
					return err
				}
				if w == WorkloadWhiteboard {
					return runWhiteboard(ctx, run)
				}
				return runTyping(ctx, run)
			}()
			rr := RunResult{Name: name, Impl: implRelay, Where: srv.base, Patches: res}
			if err != nil {
				rr.Error = err.Error()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			rep.Runs = append(rep.Runs, rr)
		}
	}
	patchesIssue18(rep, o)
	return errors.Join(errs...)
}
