package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay"
)

// summaryRE matches send's summary line.
var summaryRE = regexp.MustCompile(`sent (\d+) files: (\d+) accepted, (\d+) rejected, (\d+) not acknowledged`)

func summary(t *testing.T, stdout string) (total, acc, rej, lost int) {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in:\n%s", stdout)
	}
	fmt.Sscan(m[1], &total)
	fmt.Sscan(m[2], &acc)
	fmt.Sscan(m[3], &rej)
	fmt.Sscan(m[4], &lost)
	return
}

// filesWith returns the paths of the per-file lines starting with word.
func filesWith(stdout, word string) []string {
	var out []string
	for _, l := range strings.Split(stdout, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == word {
			out = append(out, f[1])
		}
	}
	return out
}

// section returns the paths listed under a summary heading ("rejected:").
func section(stdout, heading string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(stdout, "\n") {
		switch {
		case l == heading:
			in = true
		case in && strings.HasPrefix(l, "  "):
			out = append(out, strings.TrimSpace(l[:strings.Index(l, ": ")]))
		default:
			in = false
		}
	}
	return out
}

// Done means 1: a directory upload with one bad file reports N accepted and 1
// rejected with the reason, exits 1, and the good files arrive byte-exact at a
// `watch --out` subscriber.
func TestSendDirectoryWithOneBadFile(t *testing.T) {
	r := startRelay(t, relay.Config{})
	dir, out := t.TempDir(), t.TempDir()
	good := map[string][]byte{
		"a-opaque.png":      readTestdata(t, "canvas-opaque-64x48.png"),
		"b-transparent.png": readTestdata(t, "canvas-transparent-64x48.png"),
		"c-photo.jpg":       readTestdata(t, "photo-64x48.jpg"),
		"d-generated.png":   makePNG(t, 97, 31, 5),
		"f-canvas.webp":     readTestdata(t, "canvas-opaque-64x48.webp"),
	}
	bad := []byte("this is a text file with a .png name\n")
	for name, b := range good {
		writeFile(t, filepath.Join(dir, name), b)
	}
	writeFile(t, filepath.Join(dir, "e-broken.png"), bad)
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("not an image, not sent"))
	_, inspectErr := imageproc.Inspect(bad, imageproc.Limits{})
	wantCode := imageproc.Code(inspectErr)

	w := startCmd(t, 30*time.Second, "watch", "--out", out, r.url("room1"))
	waitUntil(t, 5*time.Second, "watch to connect", func() bool { return strings.Contains(w.stderr.String(), "connected to room") })

	// The relay is latest-wins per sender for each subscriber; pacing lets a
	// recorder under a loaded test machine keep every frame.
	stdout, _, code := runCmd(t, "send", "--fps", "20", "--client", "uploader", "--name", "Up", r.url("room1"), dir)
	if code != 1 {
		t.Fatalf("exit code: got %d, want 1", code)
	}
	if total, acc, rej, lost := summary(t, stdout); total != 6 || acc != 5 || rej != 1 || lost != 0 {
		t.Fatalf("summary: got %d files %d accepted %d rejected %d lost, want 6/5/1/0", total, acc, rej, lost)
	}
	badPath := filepath.Join(dir, "e-broken.png")
	if got := section(stdout, "rejected:"); !slices.Equal(got, []string{badPath}) {
		t.Fatalf("rejected section: got %v, want [%s]", got, badPath)
	}
	if !strings.Contains(stdout, "  "+badPath+": "+wantCode+": ") {
		t.Fatalf("want the reason %q for %s in:\n%s", wantCode, badPath, stdout)
	}
	if strings.Contains(stdout, "notes.txt") {
		t.Error("a .txt file in a directory was sent")
	}

	// Files are sent in name order, so file i has seq i+1 on the sender's connection.
	names := []string{"a-opaque.png", "b-transparent.png", "c-photo.jpg", "d-generated.png", "e-broken.png", "f-canvas.webp"}
	want := map[string][]byte{}
	for i, n := range names {
		if b, ok := good[n]; ok {
			f, _ := imageproc.Sniff(b)
			want[fmt.Sprintf("uploader-%d.%s", i+1, fileExt(string(f)))] = b
		}
	}
	waitUntil(t, 5*time.Second, "5 files in the watch directory", func() bool {
		ents, _ := os.ReadDir(out)
		return len(ents) >= len(want)
	})
	if code := w.interrupt(t); code != 0 {
		t.Fatalf("watch exit code: got %d, want 0", code)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(want) {
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		t.Fatalf("watch --out files: got %v, want %d files", got, len(want))
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("watch --out: %v", err)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s: got %d bytes, want the %d bytes sent, byte for byte", name, len(got), len(b))
		}
	}
}

func TestSendUsageAndConnectionErrors(t *testing.T) {
	r := startRelay(t, relay.Config{})
	dir := t.TempDir()
	img := filepath.Join(dir, "a.png")
	writeFile(t, img, makePNG(t, 8, 8, 1))
	empty := t.TempDir()
	writeFile(t, filepath.Join(empty, "x.txt"), []byte("x"))
	tests := []struct {
		name string
		args []string
		want int
		text string // expected in stdout+stderr
	}{
		{"no args", []string{"send"}, 2, "missing URL"},
		{"no files", []string{"send", r.url("x")}, 2, "missing FILE"},
		{"bad url scheme", []string{"send", "ftp://h/r/x", img}, 2, "want ws://"},
		{"bad room", []string{"send", "http://127.0.0.1:1/r/bad room", img}, 2, "room"},
		{"missing file", []string{"send", r.url("x"), filepath.Join(dir, "nope.png")}, 2, "no such file"},
		{"glob without match", []string{"send", r.url("x"), filepath.Join(dir, "*.gif")}, 2, "no file matches"},
		{"dir without images", []string{"send", r.url("x"), empty}, 2, "no image files"},
		{"bad fps", []string{"send", "--fps", "-1", r.url("x"), img}, 2, "--fps"},
		{"bad loop", []string{"send", "--loop=0", r.url("x"), img}, 2, "loop"},
		{"interval without watch", []string{"send", "--interval", "1s", r.url("x"), img}, 2, "--watch"},
		{"watch with two files", []string{"send", "--watch", r.url("x"), img, img}, 2, "exactly one FILE"},
		{"unknown flag", []string{"send", "--bogus", r.url("x"), img}, 2, "bogus"},
		{"connection refused", []string{"send", "http://127.0.0.1:1/r/x", img}, 2, "connect to"},
		{"help", []string{"send", "--help"}, 0, "Examples:"},
		{"glob ok", []string{"send", r.url("x"), filepath.Join(dir, "*.png")}, 0, "1 accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCmd(t, tt.args...)
			if code != tt.want {
				t.Errorf("exit code: got %d, want %d", code, tt.want)
			}
			if !strings.Contains(stdout+stderr, tt.text) {
				t.Errorf("output does not mention %q:\n%s%s", tt.text, stdout, stderr)
			}
		})
	}
}

func TestSendHelpNamesEnvTwins(t *testing.T) {
	stdout, _, code := runCmd(t, "send", "--help")
	if code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	for _, want := range []string{"CANVASRELAY_NAME", "CANVASRELAY_CLIENT", "CANVASRELAY_TOKEN", "CANVASRELAY_FPS", "CANVASRELAY_RETRY", "send --watch"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help does not mention %s", want)
		}
	}
}

func TestSendEnvironmentTwin(t *testing.T) {
	r := startRelay(t, relay.Config{})
	sub := subscribe(t, r.url("env"))
	img := filepath.Join(t.TempDir(), "a.png")
	writeFile(t, img, makePNG(t, 8, 8, 2))
	t.Setenv("CANVASRELAY_CLIENT", "from-env")
	t.Setenv("CANVASRELAY_NAME", "Env Name")
	if _, _, code := runCmd(t, "send", r.url("env"), img); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	waitUntil(t, 5*time.Second, "the frame", func() bool { return len(sub.got()) == 1 })
	if f := sub.got()[0]; f.Info.Client != "from-env" || f.Info.Name != "Env Name" {
		t.Fatalf("frame from: got client %q name %q, want from-env / Env Name", f.Info.Client, f.Info.Name)
	}
}

// A file over the server's max_bytes is refused before sending (the relay
// would close the connection with 1009), and the upload goes on.
func TestSendTooLargeIsRefusedLocally(t *testing.T) {
	r := startRelay(t, relay.Config{MaxBytes: 4 << 10})
	dir := t.TempDir()
	big := makeNoisePNG(t, 64, 64, 3)
	if len(big) <= 4<<10 {
		t.Fatalf("test image is %d bytes, want more than 4 KiB", len(big))
	}
	writeFile(t, filepath.Join(dir, "1-big.png"), big)
	writeFile(t, filepath.Join(dir, "2-small.png"), makePNG(t, 8, 8, 3))
	stdout, _, code := runCmd(t, "send", r.url("big"), dir)
	if code != 1 {
		t.Fatalf("exit code: got %d, want 1", code)
	}
	if _, acc, rej, _ := summary(t, stdout); acc != 1 || rej != 1 {
		t.Fatalf("got %d accepted %d rejected, want 1 and 1", acc, rej)
	}
	if !strings.Contains(stdout, "1-big.png: too_large:") || !strings.Contains(stdout, "(not sent)") {
		t.Fatalf("want a local too_large reason for 1-big.png in:\n%s", stdout)
	}
	if got := filesWith(stdout, "accepted"); len(got) != 1 || !strings.HasSuffix(got[0], "2-small.png") {
		t.Fatalf("accepted: got %v, want 2-small.png", got)
	}
}

func TestSendLoopAndFPS(t *testing.T) {
	r := startRelay(t, relay.Config{})
	sub := subscribe(t, r.url("loop"))
	dir := t.TempDir()
	for i := 0; i < 2; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.png", i)), makePNG(t, 8, 8, i))
	}
	start := time.Now()
	stdout, _, code := runCmd(t, "send", "--loop=3", "--fps", "20", r.url("loop"), dir)
	el := time.Since(start)
	if code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	if total, acc, _, _ := summary(t, stdout); total != 6 || acc != 6 {
		t.Fatalf("got %d files %d accepted, want 6 and 6", total, acc)
	}
	// 6 sends at 20 per second: the last starts 250ms after the first.
	if el < 250*time.Millisecond {
		t.Errorf("6 files at --fps 20 took %v, want at least 250ms", el)
	}
	waitUntil(t, 5*time.Second, "6 frames", func() bool { return len(sub.got()) == 6 })
}

func TestSendEndlessLoopEndsOnInterrupt(t *testing.T) {
	r := startRelay(t, relay.Config{})
	img := filepath.Join(t.TempDir(), "a.png")
	writeFile(t, img, makePNG(t, 8, 8, 1))
	c := startCmd(t, 30*time.Second, "send", "--loop", "--fps", "50", r.url("endless"), img)
	waitUntil(t, 5*time.Second, "5 accepted", func() bool { return strings.Count(c.stdout.String(), "accepted ") >= 5 })
	if code := c.interrupt(t); code != 0 {
		t.Fatalf("exit code after Ctrl-C of an endless loop: got %d, want 0", code)
	}
	waitUntil(t, 5*time.Second, "close 1000 at the relay", func() bool { return r.disconnects(t, "1000") >= 1 })
}

func TestSendProgressBar(t *testing.T) {
	r := startRelay(t, relay.Config{})
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.png", i)), makePNG(t, 16, 16, i))
	}
	stdout, stderr, code := runCmd(t, "send", "--progress", "bar", r.url("bar"), dir)
	if code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	if !strings.Contains(stderr, "files 3/3") {
		t.Errorf("progress bar: want \"files 3/3\" in stderr:\n%q", stderr)
	}
	if len(filesWith(stdout, "accepted")) != 0 {
		t.Errorf("per-file lines printed with a bar:\n%s", stdout)
	}
	if _, acc, _, _ := summary(t, stdout); acc != 3 {
		t.Errorf("got %d accepted, want 3", acc)
	}
}

// sendFiles writes n distinct PNG files and returns their paths in order.
func sendFiles(t *testing.T, n int) (dir string, paths []string) {
	t.Helper()
	dir = t.TempDir()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("f%03d.png", i))
		writeFile(t, p, makePNG(t, 32, 32, i))
		paths = append(paths, p)
	}
	return dir, paths
}

// Done means 3: the server is killed during an upload; send names exactly
// the files that got no receipt and exits non-zero.
func TestSendServerKilledReportsUnacknowledged(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files int
		flags []string
	}{
		{"between files", 12, []string{"--fps", "20"}},
		{"full speed", 150, nil}, // a frame is most likely in flight at the kill
	} {
		t.Run(tt.name, func(t *testing.T) { testSendKilled(t, tt.files, tt.flags) })
	}
}

func testSendKilled(t *testing.T, n int, flags []string) {
	r := startRelay(t, relay.Config{})
	dir, paths := sendFiles(t, n)
	args := append(append([]string{"send", "--timeout", "3s"}, flags...), r.url("kill"), dir)
	c := startCmd(t, 30*time.Second, args...)
	waitUntil(t, 10*time.Second, "3 files accepted", func() bool { return len(filesWith(c.stdout.String(), "accepted")) >= 3 })
	r.kill()
	code := c.wait(t)
	if code != 1 {
		t.Fatalf("exit code: got %d, want 1", code)
	}
	stdout := c.stdout.String()
	acc := filesWith(stdout, "accepted")
	lost := section(stdout, "not acknowledged:")
	t.Logf("%d accepted, %d in flight at the kill", len(acc), strings.Count(stdout, "  sent, no receipt"))
	total, nAcc, nRej, nLost := summary(t, stdout)
	if total != n || nAcc != len(acc) || nRej != 0 || nLost != len(lost) {
		t.Fatalf("summary %d/%d/%d/%d does not match %d accepted lines and %d listed", total, nAcc, nRej, nLost, len(acc), len(lost))
	}
	if len(lost) == 0 {
		t.Fatal("no file reported as not acknowledged")
	}
	// Every file is either accepted or named as not acknowledged, never both.
	all := append(slices.Clone(acc), lost...)
	slices.Sort(all)
	if !slices.Equal(all, paths) {
		t.Fatalf("accepted %v + not acknowledged %v, want each of the %d files exactly once", acc, lost, len(paths))
	}
	// The accepted ones are a prefix: they went out in order.
	if !slices.Equal(acc, paths[:len(acc)]) {
		t.Fatalf("accepted %v, want the first %d files", acc, len(acc))
	}
}

// Done means 3, --retry: the server dies mid-upload, a new one comes up on
// the same address, and send reconnects and finishes.
func TestSendRetryFinishesOnNewServer(t *testing.T) {
	r := startRelay(t, relay.Config{})
	dir, paths := sendFiles(t, 12)
	c := startCmd(t, 60*time.Second, "send", "--retry", "--retry-for", "20s", "--fps", "20", "--timeout", "5s", "--client", "retrier", r.url("retry"), dir)
	waitUntil(t, 10*time.Second, "3 files accepted", func() bool { return len(filesWith(c.stdout.String(), "accepted")) >= 3 })
	r.kill()
	time.Sleep(300 * time.Millisecond) // the client sees the loss and backs off
	r.start()
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	stdout := c.stdout.String()
	if total, acc, rej, lost := summary(t, stdout); total != 12 || acc != 12 || rej != 0 || lost != 0 {
		t.Fatalf("summary: got %d/%d/%d/%d, want 12 files all accepted", total, acc, rej, lost)
	}
	if got := filesWith(stdout, "accepted"); !slices.Equal(got, paths) {
		t.Fatalf("accepted: got %v, want every file in order", got)
	}
	// The new server has the uploader's newest frame: the last file.
	sub := subscribe(t, r.url("retry"))
	waitUntil(t, 5*time.Second, "the retained layer", func() bool { return len(sub.got()) >= 1 })
	last, _ := os.ReadFile(paths[len(paths)-1])
	if f := sub.got()[0]; f.Info.Client != "retrier" || !bytes.Equal(f.Data, last) {
		t.Fatalf("layer on the new server: got client %q (%d bytes), want retrier with the last file", f.Info.Client, len(f.Data))
	}
}

// TestSendSlowsDownWhenRateLimited: a folder bigger than the relay's burst
// is uploaded completely: rate_limited answers make send slow down and send
// the file again, not call it rejected (nor get cut off with 1008).
func TestSendSlowsDownWhenRateLimited(t *testing.T) {
	r := startRelay(t, relay.Config{FrameRate: 20, FrameBurst: 5, MaxViolations: 10})
	dir := t.TempDir()
	img, err := os.ReadFile("../testdata/photo-64x48.jpg")
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.jpg", i)), img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := runCmd(t, "send", r.url("limited"), dir)
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("%d accepted, 0 rejected", n)) {
		t.Fatalf("exit %d\n%s\n%s\nwant all %d accepted", code, stdout, stderr, n)
	}
}

// A truncated or padded image is refused before it is sent, named, with
// invalid_image, even by a relay that would take it (--verify header).
func TestSendChecksStructureLocally(t *testing.T) {
	r := startRelay(t, relay.Config{Verify: relay.VerifyHeader})
	sub := subscribe(t, r.url("local"))
	dir := t.TempDir()
	good := filepath.Join(dir, "a-good.png")
	writeFile(t, good, makePNG(t, 16, 16, 1))
	cut := filepath.Join(dir, "b-cut.png")
	writeFile(t, cut, readTestdata(t, "truncated-body.png"))
	padded := filepath.Join(dir, "c-padded.jpg")
	writeFile(t, padded, readTestdata(t, "padded-after-end.jpg"))
	stdout, _, code := runCmd(t, "send", r.url("local"), dir)
	if code != 1 {
		t.Fatalf("exit code %d, want 1:\n%s", code, stdout)
	}
	for _, f := range []string{cut, padded} {
		line := ""
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, "rejected") && strings.Contains(l, f) {
				line = l
			}
		}
		if !strings.Contains(line, "invalid_image") || !strings.Contains(line, "not sent") {
			t.Errorf("no local invalid_image rejection naming %s:\n%s", f, stdout)
		}
	}
	waitUntil(t, 5*time.Second, "the good file", func() bool { return len(sub.got()) >= 1 })
	time.Sleep(200 * time.Millisecond)
	if n := len(sub.got()); n != 1 {
		t.Fatalf("the subscriber got %d frames, want only the good one", n)
	}
}
