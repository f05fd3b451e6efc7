package imageproc

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"testing"
)

// png16Interlaced builds a w x h 16-bit RGBA Adam7 PNG of zeros (as
// testdata/gen does for png16-interlaced-4096x4096.png).
func png16Interlaced(t *testing.T, w, h int) []byte {
	t.Helper()
	passes := [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	raw := 0
	for _, p := range passes {
		pw, ph := (w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3]
		if pw > 0 && ph > 0 {
			raw += ph * (1 + pw*8)
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, raw))
	zw.Close()
	chunk := func(typ string, data []byte) []byte {
		c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		c = append(append(c, typ...), data...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, 16, 6, 0, 0, 1)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = append(b, chunk("IHDR", ihdr)...)
	b = append(b, chunk("IDAT", z.Bytes())...)
	return append(b, chunk("IEND", nil)...)
}

// MemoryCost counts what a decode really takes by bit depth and
// interlacing: never less than Reencode allocates, and, for a 16-bit
// interlaced PNG, more than a count blind to them (4 bytes a pixel), which
// Reencode's allocations exceed.
func TestMemoryCostHonest(t *testing.T) {
	const side = 1024
	nrgba64 := image.NewNRGBA64(image.Rect(0, 0, side, side))
	for i := range nrgba64.Pix {
		nrgba64.Pix[i] = byte(i * 7)
	}
	var p16 bytes.Buffer
	if err := png.Encode(&p16, nrgba64); err != nil {
		t.Fatal(err)
	}
	gray := image.NewGray(image.Rect(0, 0, side, side))
	gray.Set(3, 3, color.Gray{200})
	var pg bytes.Buffer
	if err := png.Encode(&pg, gray); err != nil {
		t.Fatal(err)
	}
	inputs := []struct {
		name string
		b    []byte
	}{
		{"16-bit interlaced", png16Interlaced(t, side, side)},
		{"16-bit", p16.Bytes()},
		{"8-bit grey", pg.Bytes()},
	}
	for _, in := range inputs {
		// Options that decode (a PNG that fits, written as PNG, would pass
		// through).
		for _, opt := range []Options{{Format: OutputJPEG}, {MaxWidth: 128, Format: OutputPNG}, {MaxWidth: 128, Format: OutputJPEG}} {
			t.Run(fmt.Sprintf("%s/%s-%d", in.name, opt.Format, opt.MaxWidth), func(t *testing.T) {
				info, err := Inspect(in.b, Limits{})
				if err != nil {
					t.Fatal(err)
				}
				got := bytesPerOp(t, 2, func() {
					if res, err := Reencode(in.b, info, opt); err != nil || res.Passthrough {
						t.Fatalf("Reencode: passthrough %v, %v; want a re-encode", res.Passthrough, err)
					}
				})
				cost := MemoryCost(info, opt)
				blind := info
				blind.DecodeBytes = 0
				t.Logf("allocated %d bytes; MemoryCost %d (decode %d); blind to depth and interlacing %d", got, cost, info.DecodeBytes, MemoryCost(blind, opt))
				if int64(got) > cost {
					t.Errorf("allocated %d bytes, want <= MemoryCost %d", got, cost)
				}
				if in.name == "16-bit interlaced" && int64(got) <= MemoryCost(blind, opt) {
					t.Errorf("allocated %d bytes, want more than the blind estimate %d (the case the accounting is for)", got, MemoryCost(blind, opt))
				}
			})
		}
	}
}

// The 130 KB 16-bit interlaced 4096x4096 PNG needs more than the default
// 256 MiB decode budget: a pool refuses it instead of letting it run.
func TestPoolRefusesOverBudget(t *testing.T) {
	b := readTestdata(t, "png16-interlaced-4096x4096.png")
	info, err := Inspect(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	const px = 4096 * 4096
	if info.DecodeBytes < 16*px { // 8 bytes a pixel, twice (Adam7 passes)
		t.Errorf("DecodeBytes = %d, want >= %d", info.DecodeBytes, 16*px)
	}
	cost := MemoryCost(info, Options{MaxWidth: 640})
	p := NewPool(PoolConfig{Workers: 1})
	defer p.Close()
	err = p.Submit("k", cost, func() { t.Error("the job ran") })
	if !errors.Is(err, ErrOverBudget) || Code(err) != CodeTooManyPixels {
		t.Fatalf("Submit(cost %d MiB) = %v, want ErrOverBudget", cost>>20, err)
	}
	if p.Stats().Rejected != 1 {
		t.Errorf("rejected = %d, want 1", p.Stats().Rejected)
	}
}
