package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// readFrame parses one final, unmasked frame at the start of b.
func readFrame(t *testing.T, b []byte) (op byte, payload, rest []byte) {
	t.Helper()
	if len(b) < 2 || b[0]&0x80 == 0 || b[1]&0x80 != 0 {
		t.Fatalf("not a final unmasked frame: % x", b[:min(len(b), 4)])
	}
	n, h := int(b[1]&0x7f), 2
	switch n {
	case 126:
		n, h = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		n, h = int(binary.BigEndian.Uint64(b[2:])), 10
	}
	if h != FrameHeaderLen(n) {
		t.Fatalf("%d payload bytes: header of %d bytes, FrameHeaderLen says %d", n, h, FrameHeaderLen(n))
	}
	return b[0] & 0x0f, b[h : h+n], b[h+n:]
}

// TestFrames: each payload length class gets the shortest header, and an
// image goes as its event's text frame then its binary frame, nothing else.
func TestFrames(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536, 1 << 20} {
		p := bytes.Repeat([]byte{'x'}, n)
		op, got, rest := readFrame(t, AppendFrame([]byte("keep"), opBinary, p)[4:])
		if op != opBinary || !bytes.Equal(got, p) || len(rest) != 0 {
			t.Errorf("%d bytes: got opcode %d, %d payload bytes, %d left over", n, op, len(got), len(rest))
		}
	}
	event, image := []byte(`{"type":"frame","seq":1}`), bytes.Repeat([]byte{7}, 70000)
	b := EncodeImage(event, image)
	op1, ev, rest := readFrame(t, b)
	op2, img, rest := readFrame(t, rest)
	if op1 != opText || !bytes.Equal(ev, event) || op2 != opBinary || !bytes.Equal(img, image) || len(rest) != 0 {
		t.Errorf("EncodeImage: got opcodes %d, %d, payloads of %d and %d bytes, %d left over", op1, op2, len(ev), len(img), len(rest))
	}
	if len(b) != cap(b) {
		t.Errorf("EncodeImage: %d bytes in a buffer of %d", len(b), cap(b))
	}
}
