package client

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// noisePic is a w×h picture of seeded random pixels, some transparent.
func noisePic(w, h int, seed uint64) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	return img
}

func pngOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func nextFrame(t *testing.T, c *Client) Frame {
	t.Helper()
	select {
	case f := <-c.Frames():
		return f
	case <-time.After(20 * time.Second):
		t.Fatal("no frame within 20s")
		return Frame{}
	}
}

// The Client asks for patches and applies them, so Frames carries whole
// pictures: identical, pixel for pixel, to the sender's layer. A Client
// with FullFrames gets the relay's composed full frames instead; and a
// patch before any full frame is rejected with bad_request.
func TestClientAppliesPatches(t *testing.T) {
	r := startRealRelay(t, relay.Config{})
	send := dial(t, Config{URL: r.url("p"), ClientID: "pub"})
	watch := dial(t, Config{URL: r.url("p"), ClientID: "watch"})
	full := dial(t, Config{URL: r.url("p"), ClientID: "full", FullFrames: true})
	ctx := ctxT(t, 30*time.Second)

	var rej *RejectError
	if _, err := send.SendPatch(ctx, 0, 0, pngOf(t, noisePic(4, 4, 1))); !errors.As(err, &rej) || rej.Code != "bad_request" {
		t.Fatalf("patch before a full frame: got %v, want a bad_request rejection", err)
	}
	want := noisePic(60, 40, 2)
	if _, err := send.Send(ctx, pngOf(t, want)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{watch, full} {
		if f := nextFrame(t, c); f.Patch != nil || f.Info.Width != 60 {
			t.Fatalf("full frame: got %+v", f.Info)
		}
	}
	for i := range 3 {
		p := noisePic(10, 8, uint64(10+i))
		x, y := 7*i, 5*i
		for row := range 8 {
			copy(want.Pix[want.PixOffset(x, y+row):], p.Pix[row*p.Stride:row*p.Stride+40])
		}
		pb := pngOf(t, p)
		if _, err := send.SendPatch(ctx, x, y, pb); err != nil {
			t.Fatalf("patch %d: %v", i+1, err)
		}
		for _, c := range []*Client{watch, full} {
			f := nextFrame(t, c)
			if c == watch && (f.Patch == nil || !f.Patch.Info.Patch || f.Patch.Info.X != x || f.Patch.Info.Y != y || !bytes.Equal(f.Patch.Data, pb)) {
				t.Fatalf("patch %d: got Patch %+v, want the patch as sent at (%d, %d)", i+1, f.Patch, x, y)
			}
			if c == full && f.Patch != nil {
				t.Fatalf("patch %d: a FullFrames client got a patch", i+1)
			}
			if f.Info.Patch || f.Info.Format != "png" || f.Info.Width != 60 || f.Info.Height != 40 || f.Info.Bytes != len(f.Data) {
				t.Fatalf("patch %d: got info %+v, want a 60x40 png full frame", i+1, f.Info)
			}
			img, err := png.Decode(bytes.NewReader(f.Data))
			if err != nil {
				t.Fatal(err)
			}
			if got := nrgba(img); !bytes.Equal(got.Pix, want.Pix) {
				t.Fatalf("patch %d: the picture differs from the sender's layer", i+1)
			}
		}
	}
	if n := watch.Stats().BadPatches; n != 0 {
		t.Fatalf("bad patches: got %d, want 0", n)
	}
}

// The pictures a connection keeps are bounded in count and bytes, least
// recently updated first; a patch for a picture that went is refused.
func TestPicturesBounded(t *testing.T) {
	var ps pictures
	big := make([]byte, maxPictureBytes/4)
	for i := range 6 {
		ps.full(string(rune('a'+i)), big)
	}
	if len(ps.m) != 4 || ps.bytes > maxPictureBytes || ps.m["a"] != nil || ps.m["f"] == nil {
		t.Fatalf("got %d pictures of %d bytes, want the newest 4 within %d", len(ps.m), ps.bytes, maxPictureBytes)
	}
	for i := range maxPictures + 10 {
		ps.full(fmt.Sprint(i), []byte{1})
	}
	if len(ps.m) != maxPictures || len(ps.order) != maxPictures {
		t.Fatalf("got %d pictures, want %d", len(ps.m), maxPictures)
	}
	if _, _, err := ps.apply(FrameInfo{Client: "a", Patch: true}, pngOf(t, noisePic(1, 1, 1))); !errors.Is(err, errBadPatch) {
		t.Fatalf("patch for an evicted picture: got %v, want errBadPatch", err)
	}
}
