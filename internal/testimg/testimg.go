// Package testimg makes test images that pass the relay's structural check
// (imageproc.CheckStructure) at any size.
package testimg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// iend is the PNG trailer: a zero-length IEND chunk with its CRC.
var iend = []byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}

// PadPNG returns png grown to exactly n bytes by a private ancillary chunk
// ("caNv", which decoders skip) of fill bytes, placed before IEND: a valid
// PNG of n bytes that shows the same pixels. png must end with IEND and n
// must leave room for the chunk's 12 bytes of framing.
func PadPNG(png []byte, n int, fill byte) ([]byte, error) {
	if !bytes.HasSuffix(png, iend) {
		return nil, errors.New("testimg: the PNG does not end with IEND")
	}
	data := n - len(png) - 12
	if data < 0 {
		return nil, errors.New("testimg: n leaves no room for a padding chunk")
	}
	out := make([]byte, 0, n)
	out = append(out, png[:len(png)-len(iend)]...)
	start := len(out)
	out = binary.BigEndian.AppendUint32(out, uint32(data))
	out = append(out, "caNv"...)
	out = append(out, bytes.Repeat([]byte{fill}, data)...)
	out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start+4:]))
	return append(out, iend...), nil
}
