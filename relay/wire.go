package relay

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Server frames are not masked, so one encoded frame serves every
// subscriber. The relay encodes each outgoing message once, as the bytes of
// a whole WebSocket frame (or, for an image, its frame event and the image
// back to back: wire.EncodeImage), and writes those bytes to each
// subscriber's socket with a single write.

const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// encodeFrame returns payload as a whole frame.
func encodeFrame(op byte, payload []byte) []byte {
	return wire.AppendFrame(make([]byte, 0, wire.FrameHeaderLen(len(payload))+len(payload)), op, payload)
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
