package relay

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server frames are not masked, so one encoded frame serves every
// subscriber. The relay encodes each outgoing message once, as the bytes of
// a whole WebSocket frame (or, for an image, its frame event and the image
// back to back), and writes those bytes to each subscriber's socket with a
// single write.

const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// frameHeaderLen is the length of a server frame header for n payload bytes.
func frameHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// appendFrame appends one unmasked, final frame of opcode op.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
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

// encodeFrame returns payload as a whole frame.
func encodeFrame(op byte, payload []byte) []byte {
	return appendFrame(make([]byte, 0, frameHeaderLen(len(payload))+len(payload)), op, payload)
}

// encodeImage returns the frame event and the image as two frames, back to
// back, in one buffer.
func encodeImage(event, image []byte) []byte {
	n := frameHeaderLen(len(event)) + len(event) + frameHeaderLen(len(image)) + len(image)
	b := make([]byte, 0, n)
	b = appendFrame(b, opText, event)
	return appendFrame(b, opBinary, image)
}

// pingFrame is an empty ping, shared by every connection.
var pingFrame = encodeFrame(opPing, nil)

// lockedConn serializes writes to a socket: the relay's writer and gws (which
// writes close frames itself) never interleave bytes. Its Close lingers, so
// that the close frame reaches a peer that is still sending.
type lockedConn struct {
	net.Conn
	mu sync.Mutex

	linger    time.Duration // static: how long Close drains the peer
	lingering *atomic.Int64 // static: the server's count of lingering closes
	closeOnce sync.Once
}

func (c *lockedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// writeBuffers writes bufs with one vectored write where the socket has one
// (writev on TCP), and consumes them.
func (c *lockedConn) writeBuffers(bufs *net.Buffers) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := bufs.WriteTo(c.Conn)
	return err
}

// Close shuts the sending side at once, then reads and drops what the peer
// still sends, until it closes too or the linger time ends. Closing a TCP
// socket that has unread data resets it, and a reset can destroy the close
// frame just written: a browser sending a too-big frame would see 1006
// instead of 1009. One goroutine per closing socket, bounded by linger.
func (c *lockedConn) Close() error {
	c.closeOnce.Do(func() {
		cw, ok := c.Conn.(interface{ CloseWrite() error })
		if !ok || c.linger <= 0 || c.lingering == nil {
			_ = c.Conn.Close()
			return
		}
		_ = cw.CloseWrite()
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.linger))
		c.lingering.Add(1)
		go func() {
			defer c.lingering.Add(-1)
			_, _ = io.CopyN(io.Discard, c.Conn, maxLingerBytes)
			_ = c.Conn.Close()
		}()
	})
	return nil
}

// maxLinger bounds how long a closing socket waits for its peer: long
// enough for a close frame to reach a peer that is still sending.
const maxLinger = time.Second

// maxLingerBytes bounds what a lingering close reads and drops.
const maxLingerBytes = 64 << 20
