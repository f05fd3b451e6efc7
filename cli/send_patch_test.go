package cli

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/client"
)

// send --watch sends the changed rectangle of the file as a patch (on by
// default); a subscriber's picture stays the file's, pixel for pixel, and
// watch --out --raw-patches saves the patch as it came. A change over half
// the picture goes as a full frame.
func TestSendWatchSendsPatches(t *testing.T) {
	r := startRelay(t, relay.Config{})
	sub := subscribe(t, r.url("pt"))
	dir := t.TempDir()
	w := startCmd(t, 60*time.Second, "watch", "--out", dir, "--raw-patches", r.url("pt"))
	file := filepath.Join(t.TempDir(), "screen.png")
	c := startCmd(t, 60*time.Second, "send", "--watch", "--debounce", "30ms", "--client", "mirror", r.url("pt"), file)
	waitUntil(t, 5*time.Second, "the mirror to start", func() bool { return strings.Contains(c.stderr.String(), "mirroring") })

	pic := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := range pic.Pix {
		pic.Pix[i] = uint8(i * 7)
	}
	write := func() []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, pic); err != nil {
			t.Fatal(err)
		}
		writeFile(t, file, b.Bytes())
		return b.Bytes()
	}
	first := write()
	waitUntil(t, 5*time.Second, "the full frame", func() bool { return len(sub.got()) >= 1 })
	if f := sub.got()[0]; f.Patch != nil || !bytes.Equal(f.Data, first) {
		t.Fatalf("first frame: want the file as it is")
	}
	// A 5×4 change at (10, 20).
	for y := 20; y < 24; y++ {
		for x := 10; x < 15; x++ {
			pic.SetNRGBA(x, y, color.NRGBA{1, 2, 3, 255})
		}
	}
	write()
	waitUntil(t, 5*time.Second, "the patch", func() bool { return len(sub.got()) >= 2 })
	f := sub.got()[1]
	if f.Patch == nil || f.Patch.Info.X != 10 || f.Patch.Info.Y != 20 || f.Patch.Info.Width != 5 || f.Patch.Info.Height != 4 {
		t.Fatalf("second frame: got patch %+v, want the 5x4 rectangle at (10, 20)", f.Patch)
	}
	got, err := client.DecodeNRGBA(f.Data, 0)
	if err != nil || !bytes.Equal(got.Pix, pic.Pix) {
		t.Fatalf("the subscriber's picture differs from the file (%v)", err)
	}
	saved := filepath.Join(dir, "mirror-2-patch-10-20.png")
	waitUntil(t, 5*time.Second, "the raw patch file", func() bool { _, err := os.Stat(saved); return err == nil })
	if b, _ := os.ReadFile(saved); !bytes.Equal(b, f.Patch.Data) {
		t.Fatalf("%s: want the patch as it came", saved)
	}
	// Most of the picture changes: a full frame.
	for i := range pic.Pix {
		pic.Pix[i] ^= 0x55
	}
	third := write()
	waitUntil(t, 5*time.Second, "the third frame", func() bool { return len(sub.got()) >= 3 })
	if f := sub.got()[2]; f.Patch != nil || !bytes.Equal(f.Data, third) {
		t.Fatal("third frame: want the file as it is (a full frame)")
	}
	if code := c.interrupt(t); code != 0 {
		t.Fatalf("exit code: got %d, want 0", code)
	}
	if out := c.stdout.String(); strings.Count(out, "patched ") != 1 || !strings.Contains(out, "mirror: 3 sent, 1 as patches") {
		t.Errorf("want one patched line and 3 sent, 1 as patches:\n%s", out)
	}
	w.interrupt(t)
}

// When the relay asks for a keyframe (the patches since the last full
// frame reached its size, at least 64 KiB), the mirror sends the current
// content as a full frame at once.
func TestSendWatchAnswersKeyframe(t *testing.T) {
	r := startRelay(t, relay.Config{})
	sub := subscribe(t, r.url("kf"))
	file := filepath.Join(t.TempDir(), "screen.png")
	c := startCmd(t, 60*time.Second, "send", "--watch", "--debounce", "30ms", "--client", "mirror", r.url("kf"), file)
	waitUntil(t, 5*time.Second, "the mirror to start", func() bool { return strings.Contains(c.stderr.String(), "mirroring") })

	pic := image.NewNRGBA(image.Rect(0, 0, 400, 300)) // transparent: a tiny full frame, so the bound is 64 KiB
	write := func() {
		var b bytes.Buffer
		if err := png.Encode(&b, pic); err != nil {
			t.Fatal(err)
		}
		writeFile(t, file, b.Bytes())
	}
	write()
	waitUntil(t, 5*time.Second, "the full frame", func() bool { return len(sub.got()) >= 1 })
	seed := uint32(1)
	for i := range 3 { // three 100×100 patches of opaque noise: about 90 KB
		for y := 100 * i; y < 100*i+100; y++ {
			for x := 0; x < 100; x++ {
				seed = seed*1664525 + 1013904223
				pic.SetNRGBA(x, y, color.NRGBA{uint8(seed >> 24), uint8(seed >> 16), uint8(seed >> 8), 255})
			}
		}
		write()
		waitUntil(t, 5*time.Second, "a patch", func() bool { return len(sub.got()) >= 2+i })
	}
	waitUntil(t, 5*time.Second, "the keyframe's full frame", func() bool { return len(sub.got()) >= 5 })
	got := sub.got()
	for i, wantPatch := range []bool{false, true, true, true, false} {
		if (got[i].Patch != nil) != wantPatch {
			t.Fatalf("frame %d: patch %v, want %v", i+1, got[i].Patch != nil, wantPatch)
		}
	}
	img, err := client.DecodeNRGBA(got[4].Data, 0)
	if err != nil || !bytes.Equal(img.Pix, pic.Pix) {
		t.Fatalf("the full frame after the keyframe is not the file's picture (%v)", err)
	}
	c.interrupt(t)
}
