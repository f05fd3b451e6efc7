package testimg

import (
	"bytes"
	"image"
	"image/png"
	"testing"

	"github.com/canvasrelay/canvasrelay/imageproc"
)

func TestPadPNGIsAValidPNGOfTheSize(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 8, 4))); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{buf.Len() + 12, buf.Len() + 1000, 1 << 20} {
		got, err := PadPNG(buf.Bytes(), n, 'x')
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("got %d bytes, want %d", len(got), n)
		}
		in, err := imageproc.Inspect(got, imageproc.Limits{MaxBytes: n, MaxPixels: 1 << 20})
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		if err := imageproc.CheckStructure(got, in); err != nil {
			t.Fatalf("CheckStructure of %d bytes: %v", n, err)
		}
		if _, err := png.Decode(bytes.NewReader(got)); err != nil {
			t.Fatalf("png.Decode: %v", err)
		}
	}
	if _, err := PadPNG(buf.Bytes(), buf.Len()+11, 'x'); err == nil {
		t.Fatal("PadPNG to less than the chunk framing: got no error")
	}
	if _, err := PadPNG(buf.Bytes()[:buf.Len()-1], 1<<20, 'x'); err == nil {
		t.Fatal("PadPNG of a cut PNG: got no error")
	}
}
