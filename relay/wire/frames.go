package wire

import "encoding/binary"

// The bytes of the WebSocket frames a server writes (RFC 6455 §5.2): final,
// unmasked, so one encoded frame serves every subscriber. An image goes with
// its frame event in one buffer (EncodeImage), written with one write.

// Opcodes of the data frames (RFC 6455's numbers, not the contract's: not
// exported, so that the generated contract for the pages leaves them out).
const (
	opText   byte = 0x1
	opBinary byte = 0x2
)

// FrameHeaderLen is the length of a server frame's header for n payload
// bytes.
func FrameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// AppendFrame appends one final, unmasked frame of opcode op (RFC 6455:
// 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong) with payload.
func AppendFrame(dst []byte, op byte, payload []byte) []byte {
	n := len(payload)
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// EncodeImage returns an image's frame event and the image as two frames,
// back to back, in one new buffer.
func EncodeImage(event, image []byte) []byte {
	n := FrameHeaderLen(len(event)) + len(event) + FrameHeaderLen(len(image)) + len(image)
	b := make([]byte, 0, n)
	b = AppendFrame(b, opText, event)
	return AppendFrame(b, opBinary, image)
}
