package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// replaceFile writes data next to path and renames it over path, the way
// many screenshot tools and editors save.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".part"
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Done means 2: writing 5 different contents gives 5 frames; rewriting
// identical content sends nothing.
func TestSendWatchMirrorsChanges(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flags []string
	}{
		{"notify", []string{"--debounce", "30ms"}},
		{"interval", []string{"--interval", "20ms", "--debounce", "20ms"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := startRelay(t, relay.Config{})
			sub := subscribe(t, r.url("mirror"))
			file := filepath.Join(t.TempDir(), "screen.png")
			args := append(append([]string{"send", "--watch", "--client", "mirror"}, tt.flags...), r.url("mirror"), file)
			c := startCmd(t, 60*time.Second, args...)
			waitUntil(t, 20*time.Second, "the mirror to start", func() bool { return strings.Contains(c.stderr.String(), "mirroring") })

			var contents [][]byte
			for i := 1; i <= 5; i++ {
				img := makePNG(t, 16, 16, i)
				contents = append(contents, img)
				writeFile(t, file, img)
				waitUntil(t, 20*time.Second, "frame", func() bool { return len(sub.got()) >= i })
			}
			// Identical content, written in place and replaced: nothing is sent.
			writeFile(t, file, contents[4])
			replaceFile(t, file, contents[4])
			time.Sleep(400 * time.Millisecond)
			got := sub.got()
			if len(got) != 5 {
				t.Fatalf("got %d frames after 5 contents and 2 identical rewrites, want 5", len(got))
			}
			for i, f := range got {
				if f.Info.Client != "mirror" || !bytes.Equal(f.Data, contents[i]) {
					t.Fatalf("frame %d: got client %q, %d bytes; want mirror and content %d", i+1, f.Info.Client, len(f.Data), i+1)
				}
			}
			// A new content saved by rename is sent.
			sixth := makePNG(t, 16, 16, 6)
			replaceFile(t, file, sixth)
			waitUntil(t, 20*time.Second, "frame 6", func() bool { return len(sub.got()) == 6 })
			if !bytes.Equal(sub.got()[5].Data, sixth) {
				t.Fatal("frame 6: content differs")
			}
			if code := c.interrupt(t); code != 0 {
				t.Fatalf("exit code: got %d, want 0", code)
			}
			out := c.stdout.String()
			if n := strings.Count(out, "sent      "); n != 6 {
				t.Errorf("got %d sent lines, want 6", n)
			}
			if !strings.Contains(out, "mirror: 6 sent, ") || strings.Contains(out, " 0 unchanged skipped") {
				t.Errorf("summary: want 6 sent and some unchanged skipped:\n%s", out)
			}
		})
	}
}

// The mirror reconnects by itself, and sends the current content to the new
// server, which has lost the room.
func TestSendWatchReconnects(t *testing.T) {
	r := startRelay(t, relay.Config{})
	file := filepath.Join(t.TempDir(), "screen.png")
	first := makePNG(t, 16, 16, 1)
	writeFile(t, file, first)
	c := startCmd(t, 60*time.Second, "send", "--watch", "--debounce", "20ms", "--client", "mirror", r.url("again"), file)
	waitUntil(t, 5*time.Second, "the first send", func() bool { return strings.Contains(c.stdout.String(), "sent ") })

	r.kill()
	r.start()
	sub := subscribe(t, r.url("again"))
	waitUntil(t, 15*time.Second, "the current content on the new server", func() bool {
		fs := sub.got()
		return len(fs) >= 1 && bytes.Equal(fs[len(fs)-1].Data, first)
	})
	second := makePNG(t, 16, 16, 2)
	writeFile(t, file, second)
	waitUntil(t, 5*time.Second, "the next change", func() bool {
		fs := sub.got()
		return bytes.Equal(fs[len(fs)-1].Data, second)
	})
	if code := c.interrupt(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	if !strings.Contains(c.stderr.String(), "reconnected") {
		t.Errorf("stderr does not mention the reconnect:\n%s", c.stderr.String())
	}
}

// Content the relay rejects is reported once and not sent again until it changes.
func TestSendWatchRejectedContentNotResent(t *testing.T) {
	r := startRelay(t, relay.Config{})
	file := filepath.Join(t.TempDir(), "screen.png")
	c := startCmd(t, 60*time.Second, "send", "--watch", "--debounce", "20ms", r.url("bad"), file)
	waitUntil(t, 5*time.Second, "the mirror to start", func() bool { return strings.Contains(c.stderr.String(), "mirroring") })
	writeFile(t, file, []byte("not an image"))
	waitUntil(t, 5*time.Second, "the rejection", func() bool { return strings.Contains(c.stdout.String(), "rejected") })
	writeFile(t, file, []byte("not an image"))
	time.Sleep(300 * time.Millisecond)
	writeFile(t, file, makePNG(t, 8, 8, 1))
	waitUntil(t, 5*time.Second, "the good content", func() bool { return strings.Contains(c.stdout.String(), "sent ") })
	if code := c.interrupt(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	if n := strings.Count(c.stdout.String(), "rejected  "); n != 1 {
		t.Fatalf("got %d rejected lines, want 1", n)
	}
}

func TestSendWatchUsage(t *testing.T) {
	_, stderr, code := runCmd(t, "send", "--watch", "--loop", "http://127.0.0.1:1/r/x", "f.png")
	if code != 2 || !strings.Contains(stderr, "--loop does not apply") {
		t.Fatalf("got exit %d, %q; want 2 and a --loop complaint", code, stderr)
	}
}

// Done means 4 of issue 15: a file rewritten in place in 4 KB steps at
// 10 fps for 10 s is mirrored without one broken frame, even to a relay that
// checks only headers (so that only send's own check stands in the way).
func TestSendWatchNeverSendsHalfWritten(t *testing.T) {
	r := startRelay(t, relay.Config{Verify: relay.VerifyHeader})
	sub := subscribe(t, r.url("inplace"))
	file := filepath.Join(t.TempDir(), "screen.png")
	c := startCmd(t, 60*time.Second, "send", "--watch", "--debounce", "30ms", "--client", "mirror", r.url("inplace"), file)
	waitUntil(t, 5*time.Second, "the mirror to start", func() bool { return strings.Contains(c.stderr.String(), "mirroring") })

	written := map[string]bool{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := range 100 { // 10 s at (up to) 10 fps
		<-tick.C
		img := makeNoisePNG(t, 48, 48, uint64(i+1)) // ~9 KB: three 4 KB steps
		written[string(img)] = true
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(img); off += 4096 {
			if _, err := f.Write(img[off:min(off+4096, len(img))]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(40 * time.Millisecond) // longer than the debounce: the mirror sees each step
		}
		f.Close()
	}
	time.Sleep(500 * time.Millisecond)
	if code := c.interrupt(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	got := sub.got()
	for i, fr := range got {
		if !written[string(fr.Data)] {
			t.Fatalf("frame %d (%d bytes) is not one of the images written: a half-written file was sent", i+1, len(fr.Data))
		}
	}
	t.Logf("%d frames mirrored from 100 rewrites; mirror said: %s", len(got), strings.TrimSpace(c.stdout.String()[max(0, len(c.stdout.String())-80):]))
	if len(got) < 10 {
		t.Errorf("only %d frames mirrored from 100 rewrites", len(got))
	}
}

// A file that stays broken is reported as rejected, naming it, and not sent.
func TestSendWatchReportsBrokenFile(t *testing.T) {
	r := startRelay(t, relay.Config{Verify: relay.VerifyHeader})
	sub := subscribe(t, r.url("broken"))
	file := filepath.Join(t.TempDir(), "screen.png")
	c := startCmd(t, 60*time.Second, "send", "--watch", "--debounce", "20ms", r.url("broken"), file)
	waitUntil(t, 5*time.Second, "the mirror to start", func() bool { return strings.Contains(c.stderr.String(), "mirroring") })
	writeFile(t, file, readTestdata(t, "truncated-body.png"))
	waitUntil(t, 5*time.Second, "the rejection", func() bool { return strings.Contains(c.stdout.String(), "rejected") })
	if code := c.interrupt(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	out := c.stdout.String()
	if !strings.Contains(out, "rejected  "+file) || !strings.Contains(out, "invalid_image") {
		t.Fatalf("want a rejected line naming %s with invalid_image:\n%s", file, out)
	}
	if n := len(sub.got()); n != 0 {
		t.Fatalf("the subscriber got %d frames, want none", n)
	}
}
