package imageproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// structureFails lists the testdata files that pass Inspect and must fail
// CheckStructure, with a word its message must hold.
var structureFails = map[string]string{
	"truncated-body.png":           "past the end",
	"truncated-body.jpg":           "EOI",
	"truncated-body.gif":           "past the end",
	"truncated-body.webp":          "RIFF size",
	"truncated-body-lossy.webp":    "RIFF size",
	"padded-after-end.png":         "after IEND",
	"padded-after-end.jpg":         "after EOI",
	"padded-after-end.gif":         "after the trailer",
	"padded-after-end.webp":        "RIFF size",
	"polyglot-html.png":            "after IEND",
	"gif-frame-outside-screen.gif": "outside",
}

func TestCheckStructureTestdata(t *testing.T) {
	for _, tc := range inspectCases {
		if tc.code != "" {
			continue
		}
		t.Run(tc.file, func(t *testing.T) {
			b := readTestdata(t, tc.file)
			info, err := Inspect(b, Limits{})
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			err = CheckStructure(b, info)
			word, bad := structureFails[tc.file]
			if !bad {
				if err != nil {
					t.Fatalf("CheckStructure = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || Code(err) != CodeInvalidImage {
				t.Fatalf("CheckStructure = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), word) {
				t.Errorf("message %q does not say %q", err, word)
			}
		})
	}
}

// pngWith rebuilds canvas-opaque-64x48.png with its chunks passed through
// edit, each chunk's CRC recomputed.
func pngWith(t *testing.T, edit func(chunks [][]byte) [][]byte) []byte {
	t.Helper()
	b := readTestdata(t, "canvas-opaque-64x48.png")
	var chunks [][]byte
	for i := 8; i < len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		chunks = append(chunks, bytes.Clone(b[i+4:i+8+n])) // type + data
		i += 12 + n
	}
	out := bytes.Clone(b[:8])
	for _, c := range edit(chunks) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(c)-4))
		out = append(out, c...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(c))
	}
	return out
}

func chunk(typ string, data ...byte) []byte { return append([]byte(typ), data...) }

func TestCheckStructurePNG(t *testing.T) {
	good := readTestdata(t, "canvas-opaque-64x48.png")
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-20] ^= 1 // inside the last IDAT
	tests := []struct {
		name string
		b    []byte
		word string // "" means accepted
	}{
		{"good", good, ""},
		{"rebuilt unchanged", pngWith(t, func(c [][]byte) [][]byte { return c }), ""},
		{"IDAT crc", badCRC, "CRC-32"},
		{"IDAT not zlib", pngWith(t, func(c [][]byte) [][]byte {
			for _, x := range c {
				if string(x[:4]) == "IDAT" {
					x[4], x[5] = 0x12, 0x34
				}
			}
			return c
		}), "not zlib"},
		{"no IEND", pngWith(t, func(c [][]byte) [][]byte { return c[:len(c)-1] }), "no IEND"},
		{"IEND not last", pngWith(t, func(c [][]byte) [][]byte { return append(c, chunk("tEXt", 'a', 0, 'b')) }), "after IEND"},
		{"no IDAT", pngWith(t, func(c [][]byte) [][]byte {
			var out [][]byte
			for _, x := range c {
				if string(x[:4]) != "IDAT" {
					out = append(out, x)
				}
			}
			return out
		}), "no IDAT"},
		{"IDAT split by another chunk", pngWith(t, func(c [][]byte) [][]byte {
			// IHDR, IDAT..., IEND: cut the IDAT in two around a tEXt.
			idat := c[1]
			half := 4 + (len(idat)-4)/2
			a, b := bytes.Clone(idat[:half]), append([]byte("IDAT"), idat[half:]...)
			return [][]byte{c[0], a, chunk("tEXt", 'a', 0, 'b'), b, c[len(c)-1]}
		}), "contiguous"},
		{"IDAT split in two, contiguous", pngWith(t, func(c [][]byte) [][]byte {
			idat := c[1]
			a, b := bytes.Clone(idat[:5]), append([]byte("IDAT"), idat[5:]...) // the zlib header straddles them
			return [][]byte{c[0], a, b, c[len(c)-1]}
		}), ""},
		{"IHDR not first", pngWith(t, func(c [][]byte) [][]byte {
			return append([][]byte{chunk("tEXt", 'a', 0, 'b')}, c...)
		}), "IHDR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckStructure(tc.b, Info{})
			if tc.word == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.word) {
				t.Fatalf("got %v, want a message with %q", err, tc.word)
			}
		})
	}
}

func TestCheckStructureJPEG(t *testing.T) {
	good := readTestdata(t, "photo-64x48.jpg")
	pad := func(tail ...byte) []byte { return append(bytes.Clone(good), tail...) }
	seg1 := 4 + int(binary.BigEndian.Uint16(good[4:])) // end of the first segment
	junk := append(append(bytes.Clone(good[:seg1]), 0x42), good[seg1:]...)
	for _, tc := range []struct {
		name string
		b    []byte
		word string
	}{
		{"good", good, ""},
		{"exif", readTestdata(t, "exif-orientation6-48x64.jpg"), ""},
		{"padding zeros", pad(0, 0, 0, 0), ""},
		{"padding 0xFF", pad(0xFF, 0xFF), ""},
		{"junk after EOI", pad('<', 'h'), "not padding"},
		{"long padding", pad(make([]byte, 17)...), "after EOI"},
		{"no EOI", good[:len(good)-2], "EOI"},
		{"junk between segments", junk, "where a marker should be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckStructure(tc.b, Info{})
			if tc.word == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.word) {
				t.Fatalf("got %v, want ErrInvalid with %q", err, tc.word)
			}
		})
	}
}

func TestCheckStructureGIFFrames(t *testing.T) {
	// A GIF of MaxFrames+1 tiny frames.
	b := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff")
	frame := []byte{0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4c, 0x01, 0}
	many := bytes.Clone(b)
	for range MaxFrames + 1 {
		many = append(many, frame...)
	}
	many = append(many, 0x3b)
	if err := CheckStructure(many, Info{}); err == nil || !strings.Contains(err.Error(), "frames") {
		t.Errorf("%d frames: got %v, want a frame-count error", MaxFrames+1, err)
	}
	one := append(append(bytes.Clone(b), frame...), 0x3b)
	if err := CheckStructure(one, Info{}); err != nil {
		t.Errorf("one frame: got %v, want nil", err)
	}
}

func TestCheckStructureWebP(t *testing.T) {
	good := readTestdata(t, "canvas-transparent-lossy-64x48.webp") // VP8X + ALPH + VP8
	// The VP8X canvas grown to 65x48: the VP8 bitstream no longer agrees.
	bad := bytes.Clone(good)
	bad[24] = 64 // canvas width - 1, low byte
	if err := CheckStructure(bad, Info{}); err == nil || !strings.Contains(err.Error(), "canvas") {
		t.Errorf("VP8X canvas 65 wide over a 64-wide VP8: got %v, want a size mismatch", err)
	}
	// A RIFF size one short.
	short := bytes.Clone(good)
	binary.LittleEndian.PutUint32(short[4:], binary.LittleEndian.Uint32(short[4:])-2)
	if err := CheckStructure(short, Info{}); err == nil || !strings.Contains(err.Error(), "RIFF size") {
		t.Errorf("RIFF size short: got %v, want a RIFF size error", err)
	}
}
