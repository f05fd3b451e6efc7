package imageproc

import (
	"errors"
	"image"
	"io"
	"strings"
	"testing"
)

func TestVerifyTestdata(t *testing.T) {
	for _, tc := range inspectCases {
		if tc.code != "" || tc.w*tc.h > 1<<20 { // the 4096x4096 PNG: TestMemoryCostHonest decodes it
			continue
		}
		t.Run(tc.file, func(t *testing.T) {
			b := readTestdata(t, tc.file)
			info, err := Inspect(b, Limits{})
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			err = Verify(b, info)
			if strings.HasPrefix(tc.file, "truncated-") || tc.file == "gif-frame-outside-screen.gif" {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("Verify = %v, want ErrInvalid (Inspect accepted a broken body)", err)
				}
				return
			}
			if err != nil {
				t.Errorf("Verify = %v, want nil", err)
			}
		})
	}
}

func TestVerifyInfo(t *testing.T) {
	png := readTestdata(t, "canvas-opaque-64x48.png")
	bomb := readTestdata(t, "bomb-100000x100000.png")
	tests := []struct {
		name string
		b    []byte
		in   Info
		is   error
	}{
		{"zero info runs Inspect", png, Info{}, nil},
		{"zero info on a bomb", bomb, Info{}, ErrTooManyPixels},
		{"format mismatch", png, Info{Format: JPEG, Width: 64, Height: 48}, ErrInvalid},
		{"size mismatch", png, Info{Format: PNG, Width: 48, Height: 64}, ErrInvalid},
		{"bad size", png, Info{Format: PNG, Width: 0, Height: 48}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.b, tc.in)
			if tc.is == nil && err != nil || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Verify = %v, want %v", err, tc.is)
			}
		})
	}
}

// TestDecoderPanicRecovered swaps in a decoder that panics, as a hostile
// input might make a real one do, and checks that every entry point turns
// the panic into invalid_image.
func TestDecoderPanicRecovered(t *testing.T) {
	b := readTestdata(t, "canvas-opaque-64x48.png")
	oldCfg, oldDec := configFuncs[PNG], decodeFuncs[PNG]
	t.Cleanup(func() { configFuncs[PNG], decodeFuncs[PNG] = oldCfg, oldDec })
	configFuncs[PNG] = func(io.Reader) (image.Config, error) { panic("boom") }
	decodeFuncs[PNG] = func(io.Reader) (image.Image, error) { panic("boom") }

	if _, err := Inspect(b, Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Inspect = %v, want ErrInvalid", err)
	}
	in := Info{Format: PNG, Width: 64, Height: 48, Bytes: len(b)}
	if err := Verify(b, in); !errors.Is(err, ErrInvalid) {
		t.Errorf("Verify = %v, want ErrInvalid", err)
	}
	if _, err := Reencode(b, in, Options{Format: OutputJPEG}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Reencode = %v, want ErrInvalid", err)
	}
}
