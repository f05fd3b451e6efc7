package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/client"
)

func dialTest(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestWatchOutEventsAndCleanClose(t *testing.T) {
	r := startRelay(t, relay.Config{})
	out := t.TempDir()
	w := startCmd(t, 30*time.Second, "watch", "--events", "--out", out, "--name", "Recorder", r.url("rec"))
	waitUntil(t, 5*time.Second, "watch to connect", func() bool { return strings.Contains(w.stderr.String(), "connected to room rec") })

	pub := dialTest(t, client.Config{URL: r.url("rec"), ClientID: "chatter", Name: "Cee"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pub.Chat(ctx, "hello there"); err != nil {
		t.Fatal(err)
	}
	var sent [][]byte
	for i := 1; i <= 3; i++ {
		img := makePNG(t, 20+i, 10, i)
		ack, err := pub.Send(ctx, img)
		if err != nil || ack.Seq != int64(i) {
			t.Fatalf("send %d: got %+v %v", i, ack, err)
		}
		sent = append(sent, img)
	}
	for i, img := range sent {
		name := filepath.Join(out, fmt.Sprintf("chatter-%d.png", i+1))
		waitUntil(t, 5*time.Second, name, func() bool { _, err := os.Stat(name); return err == nil })
		if got, _ := os.ReadFile(name); !bytes.Equal(got, img) {
			t.Fatalf("%s: got %d bytes, want the %d bytes sent", name, len(got), len(img))
		}
	}
	closesBefore := r.disconnects(t, "1000")
	_ = pub.Close()
	waitUntil(t, 5*time.Second, "the leave event", func() bool { return strings.Count(w.stdout.String(), "\n") >= 3 })
	if code := w.interrupt(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	// The publisher and the watcher both closed with 1000.
	waitUntil(t, 5*time.Second, "two close 1000 at the relay", func() bool { return r.disconnects(t, "1000") >= closesBefore+2 })

	lines := strings.Split(strings.TrimSpace(w.stdout.String()), "\n")
	var kinds []string
	for _, l := range lines {
		var ev struct{ Type, Event, Client, Name, Text string }
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		if ev.Client != "chatter" || ev.Name != "Cee" {
			t.Errorf("line %q: want client chatter, name Cee", l)
		}
		kinds = append(kinds, ev.Type+":"+ev.Event+ev.Text)
	}
	want := []string{"presence:join", "chat:hello there", "presence:leave"}
	if strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("events: got %v, want %v", kinds, want)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 3 {
		t.Fatalf("out dir: got %d files, want 3 (and no temporary files)", len(ents))
	}
}

// Done means 4: while frames arrive fast, --latest is always a complete,
// valid image, and it ends as the newest frame.
func TestWatchLatestIsAlwaysComplete(t *testing.T) {
	r := startRelay(t, relay.Config{FrameRate: -1, ByteRate: -1} /* frames arrive as fast as the window allows */)
	latest := filepath.Join(t.TempDir(), "live.png")
	w := startCmd(t, 60*time.Second, "watch", "--latest", latest, r.url("live"))
	waitUntil(t, 5*time.Second, "watch to connect", func() bool { return strings.Contains(w.stderr.String(), "connected to room") })

	// Frames of very different sizes, so a torn write would show.
	var imgs [][]byte
	for i := 0; i < 12; i++ {
		if i%3 == 0 {
			imgs = append(imgs, makeNoisePNG(t, 200, 150, uint64(i)))
		} else {
			imgs = append(imgs, makePNG(t, 10+i, 10, i))
		}
	}
	stop := make(chan struct{})
	var reads, decoded atomic.Int64
	readerDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				readerDone <- nil
				return
			default:
			}
			b, err := os.ReadFile(latest)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			reads.Add(1)
			if err != nil {
				readerDone <- err
				return
			}
			if _, err := png.Decode(bytes.NewReader(b)); err != nil {
				readerDone <- fmt.Errorf("read %d bytes that do not decode: %w", len(b), err)
				return
			}
			decoded.Add(1)
		}
	}()

	pub := dialTest(t, client.Config{URL: r.url("live"), ClientID: "fast", Window: 8})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 400
	var last *client.Pending
	for i := 0; i < n; i++ {
		p, err := pub.SendAsync(ctx, imgs[i%len(imgs)])
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		last = p
	}
	if _, err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	final := imgs[(n-1)%len(imgs)]
	waitUntil(t, 10*time.Second, "--latest to be the newest frame", func() bool {
		b, _ := os.ReadFile(latest)
		return bytes.Equal(b, final)
	})
	close(stop)
	if err := <-readerDone; err != nil {
		t.Fatal(err)
	}
	if code := w.interrupt(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	t.Logf("%d reads of --latest while %d frames arrived, all %d decoded", reads.Load(), n, decoded.Load())
	if decoded.Load() < 20 {
		t.Fatalf("only %d reads decoded: the check did not run during the stream", decoded.Load())
	}
	ents, _ := os.ReadDir(filepath.Dir(latest))
	if len(ents) != 1 {
		t.Fatalf("got %d files next to --latest, want 1 (temporary files left behind?)", len(ents))
	}
}

// A late joiner gets the room's layers at once; --count ends the watch.
func TestWatchLateJoinerAndCount(t *testing.T) {
	r := startRelay(t, relay.Config{})
	pub := dialTest(t, client.Config{URL: r.url("late"), ClientID: "early"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	img1, img2 := makePNG(t, 9, 9, 1), makePNG(t, 9, 9, 2)
	for _, img := range [][]byte{img1, img2} {
		if _, err := pub.Send(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	latest := filepath.Join(t.TempDir(), "now.png")
	_, stderr, code := runCmd(t, "watch", "--latest", latest, "--count", "1", r.url("late"))
	if code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	if got, _ := os.ReadFile(latest); !bytes.Equal(got, img2) {
		t.Fatalf("--latest: got %d bytes, want the newest frame (%d bytes)", len(got), len(img2))
	}
	if !strings.Contains(stderr, "1 frames saved") {
		t.Errorf("stderr: want \"1 frames saved\":\n%s", stderr)
	}
}

func TestWatchReconnectsAfterServerRestart(t *testing.T) {
	r := startRelay(t, relay.Config{})
	latest := filepath.Join(t.TempDir(), "now.png")
	w := startCmd(t, 60*time.Second, "watch", "--latest", latest, r.url("again"))
	waitUntil(t, 5*time.Second, "watch to connect", func() bool { return strings.Contains(w.stderr.String(), "connected to room") })
	r.kill()
	r.start()
	waitUntil(t, 15*time.Second, "watch to reconnect", func() bool { return strings.Contains(w.stderr.String(), "reconnected to room") })
	img := makePNG(t, 12, 12, 7)
	pub := dialTest(t, client.Config{URL: r.url("again")})
	if _, err := pub.Send(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the frame from the new server", func() bool {
		b, _ := os.ReadFile(latest)
		return bytes.Equal(b, img)
	})
	if code := w.interrupt(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
}

func TestWatchUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want int
		text string
	}{
		{"no url", []string{"watch", "--events"}, 2, "exactly one URL"},
		{"no mode", []string{"watch", "http://127.0.0.1:1/r/x"}, 2, "--out DIR, --latest FILE and/or --events"},
		{"bad url", []string{"watch", "--events", "http://127.0.0.1:1/nope"}, 2, "/ws/ROOM or /r/ROOM"},
		{"bad count", []string{"watch", "--events", "--count", "-1", "http://127.0.0.1:1/r/x"}, 2, "--count"},
		{"latest dir missing", []string{"watch", "--latest", filepath.Join(dir, "no", "x.png"), "http://127.0.0.1:1/r/x"}, 2, "directory must exist"},
		{"connection refused", []string{"watch", "--events", "http://127.0.0.1:1/r/x"}, 2, "connect to"},
		{"help", []string{"watch", "--help"}, 0, "Examples:"},
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

func TestSafeName(t *testing.T) {
	tests := map[string]string{
		"abc-DEF_1.2": "abc-DEF_1.2",
		"../../etc":   "_._.._etc",
		"..":          "_.",
		"a/b\\c":      "a_b_c",
		"":            "_",
		"é":           "__",
		".hidden":     "_hidden",
	}
	for in, want := range tests {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q): got %q, want %q", in, got, want)
		}
	}
	if got := safeName(strings.Repeat("x", 100)); len(got) != 64 {
		t.Errorf("long id: got %d bytes, want 64", len(got))
	}
}

func TestFileExt(t *testing.T) {
	for in, want := range map[string]string{"png": "png", "jpeg": "jpg", "gif": "gif", "webp": "webp", "": "bin", "bmp": "bin"} {
		if got := fileExt(in); got != want {
			t.Errorf("fileExt(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.png")
	for i, data := range [][]byte{[]byte("first"), []byte("second, longer"), []byte("3")} {
		if err := writeFileAtomic(p, data, 0o640); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
			t.Fatalf("write %d: got %q, want %q", i, got, data)
		}
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode: got %v, want 0640", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("got %d entries, want 1: temporary files left", len(ents))
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "f"), []byte("x"), 0o644); err == nil {
		t.Error("write into a missing directory: got nil error")
	}
}

func TestPassesFlag(t *testing.T) {
	tests := []struct {
		in   string
		want passes
		bad  bool
	}{
		{"true", 0, false}, {"false", 1, false}, {"3", 3, false}, {"forever", 0, false},
		{"0", 0, true}, {"-2", 0, true}, {"x", 0, true},
	}
	for _, tt := range tests {
		var p passes = 1
		err := p.Set(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && p != tt.want) {
			t.Errorf("Set(%q): got %d, %v; want %d (error %v)", tt.in, p, err, tt.want, tt.bad)
		}
	}
}

// The client commands leave no goroutine behind: send, send --watch and
// watch, through a server kill and restart, all end cleanly.
func TestClientCommandsLeakNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Run("scenario", func(t *testing.T) {
		r := startRelay(t, relay.Config{})
		dir := t.TempDir()
		file := filepath.Join(dir, "screen.png")
		writeFile(t, file, makePNG(t, 8, 8, 1))
		w := startCmd(t, 30*time.Second, "watch", "--latest", filepath.Join(dir, "live.png"), "--events", r.url("leak"))
		m := startCmd(t, 30*time.Second, "send", "--watch", "--debounce", "10ms", r.url("leak"), file)
		waitUntil(t, 5*time.Second, "the mirror's first send", func() bool { return strings.Contains(m.stdout.String(), "sent ") })
		r.kill()
		r.start()
		waitUntil(t, 15*time.Second, "both to reconnect", func() bool {
			return strings.Contains(w.stderr.String(), "reconnected") && strings.Contains(m.stderr.String(), "reconnected")
		})
		if _, _, code := runCmd(t, "send", "--retry", r.url("leak"), file); code != 0 {
			t.Errorf("send: exit %d, want 0", code)
		}
		if code := m.interrupt(t); code != 0 {
			t.Errorf("send --watch: exit %d, want 0", code)
		}
		if code := w.interrupt(t); code != 0 {
			t.Errorf("watch: exit %d, want 0", code)
		}
	})
	goleak.VerifyNone(t, before)
}

// watch --events prints no control character or bidi override a terminal
// would obey, even from a relay that passes them on (`jq -r .text` decodes
// JSON escapes): it cleans every string, and keeps the server's key order.
func TestWatchEventsAreTerminalSafe(t *testing.T) {
	in := `{"type":"chat","client":"eve","name":"E\u001b[2Jve\u202e","text":"a\u001b]0;t\u0007 \u009b31m` + "\u009b\u202e" + `b\n\tc <&>","ts":1,"x":[null,true,1.5,{"k":"\u001b"}]}`
	ev, err := client.ParseEvent([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &recorder{o: &watchOptions{events: true}, stdout: &out}
	if err := r.event(ev); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"chat","client":"eve","name":"E[2Jve","text":"a]0;t 31mb\n\tc <&>","ts":1,"x":[null,true,1.5,{"k":""}]}` + "\n"
	if out.String() != want {
		t.Fatalf("got  %s\nwant %s", out.String(), want)
	}
	var errOut bytes.Buffer
	r.stderr = &errOut
	for _, raw := range []string{
		`{"type":"hello","id":"x","client":"c\u001b[2J","room":"r\u009b","count":1}`,
		`{"type":"error","code":"bad\u001b","message":"m\u001b]0;x\u0007\u202e"}`,
	} {
		ev, err := client.ParseEvent([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.event(ev); err != nil {
			t.Fatal(err)
		}
	}
	if strings.ContainsAny(errOut.String(), "\x1b\x07\u009b\u202e") {
		t.Fatalf("stderr holds control characters: %q", errOut.String())
	}
	var back map[string]any
	if err := json.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	for _, r := range back["text"].(string) + back["name"].(string) {
		if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f || r >= 0x202a && r <= 0x202e {
			t.Fatalf("decoded output holds %U", r)
		}
	}
}

// watch --out never overwrites a file: not one it wrote earlier in the run
// (two client ids that make the same file name, ".a" and "_a"), nor one
// that was there before. The newcomer gets the next free name.
func TestWatchOutNeverOverwrites(t *testing.T) {
	r := startRelay(t, relay.Config{})
	out := t.TempDir()
	old := []byte("written before the run")
	if err := os.WriteFile(filepath.Join(out, "pre-1.png"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	w := startCmd(t, 30*time.Second, "watch", "--out", out, r.url("keep"))
	waitUntil(t, 5*time.Second, "watch to connect", func() bool { return strings.Contains(w.stderr.String(), "connected to room keep") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := map[string][]byte{"pre-1.png": old}
	for i, c := range []struct{ id, file string }{
		{".a", "_a-1.png"},
		{"_a", "_a-1.2.png"},
		{"pre", "pre-1.2.png"},
	} {
		pub := dialTest(t, client.Config{URL: r.url("keep"), ClientID: c.id})
		img := makePNG(t, 10+i, 10, i)
		if _, err := pub.Send(ctx, img); err != nil {
			t.Fatalf("send as %s: %v", c.id, err)
		}
		want[c.file] = img
		name := filepath.Join(out, c.file)
		waitUntil(t, 5*time.Second, name, func() bool { _, err := os.Stat(name); return err == nil })
	}
	if code := w.interrupt(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != len(want) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("out dir: got %v, want %d files", names, len(want))
	}
	for name, b := range want {
		if got, _ := os.ReadFile(filepath.Join(out, name)); !bytes.Equal(got, b) {
			t.Errorf("%s: got %d bytes, want %d", name, len(got), len(b))
		}
	}

	// The same frame again (its layer, after a reconnect) is not saved twice.
	rec := &recorder{o: &watchOptions{out: out}}
	f := client.Frame{Data: want["_a-1.png"]}
	f.Info.Client, f.Info.Seq, f.Info.TS, f.Info.Format = "zed", 1, 42, "png"
	for range 2 {
		if err := rec.frame(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "zed-1.2.png")); err == nil {
		t.Error("a frame seen twice was saved twice")
	}
}
