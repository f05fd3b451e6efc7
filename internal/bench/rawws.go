package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// A raw connection is a WebSocket reduced to its socket: the bench does the
// handshake by hand and then never reads. That is what a stalled subscriber
// is, and it keeps idle connections as small as a socket on the client side
// (no goroutine, no buffers), so that an in-process measurement of server
// memory is not inflated by the clients.

// rawHandshakeTimeout bounds one raw dial and handshake.
const rawHandshakeTimeout = 10 * time.Second

// dialRaw opens a WebSocket to host (host:port) at path and returns the
// socket with any bytes read past the handshake response. rcvBuf > 0 sets
// the socket's receive buffer before it connects (a small window makes a
// stalled reader stall sooner).
func dialRaw(ctx context.Context, host, path string, rcvBuf int) (net.Conn, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, rawHandshakeTimeout)
	defer cancel()
	d := net.Dialer{Control: rcvBufControl(rcvBuf)}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", host, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	var key [16]byte
	_, _ = rand.Read(key[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("handshake %s: %w", path, err)
	}
	var buf [1024]byte
	n := 0
	for {
		m, err := nc.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
				nc.Close()
				line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
				return nil, nil, fmt.Errorf("handshake %s: got %q, want HTTP/1.1 101", path, line)
			}
			_ = nc.SetDeadline(time.Time{})
			return nc, bytes.Clone(buf[i+4 : n]), nil
		}
		if err != nil || n == len(buf) {
			nc.Close()
			if err == nil {
				err = errors.New("response headers too long")
			}
			return nil, nil, fmt.Errorf("handshake %s: %w", path, err)
		}
	}
}

// drainResult is what a raw connection had received when it was read to
// its end.
type drainResult struct {
	Bytes     int64 // bytes read, leftover included
	Frames    int   // whole WebSocket frames parsed
	CloseCode int   // code of a close frame from the server, 0 if none came
	Ended     bool  // the server closed the socket (EOF or reset)
}

// drainRaw reads nc until the server closes it, a close frame is parsed, or
// the deadline, parsing server (unmasked) frames to find a close code.
func drainRaw(nc net.Conn, leftover []byte, deadline time.Time) (r drainResult) {
	_ = nc.SetReadDeadline(deadline)
	cr := &countingReader{r: io.MultiReader(bytes.NewReader(leftover), nc)}
	br := bufio.NewReaderSize(cr, 64<<10)
	defer func() { r.Bytes = cr.n }()
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			r.Ended = endedByPeer(err)
			return r
		}
		op := hdr[0] & 0x0F
		n := uint64(hdr[1] & 0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[:2]); err != nil {
				r.Ended = endedByPeer(err)
				return r
			}
			n = uint64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				r.Ended = endedByPeer(err)
				return r
			}
			n = binary.BigEndian.Uint64(hdr[:8])
		}
		if op == 0x8 {
			p := make([]byte, min(n, 125))
			if _, err := io.ReadFull(br, p); err == nil && len(p) >= 2 {
				r.CloseCode = int(binary.BigEndian.Uint16(p))
			}
			r.Frames++
			return r
		}
		if _, err := br.Discard(int(n)); err != nil {
			r.Ended = endedByPeer(err)
			return r
		}
		r.Frames++
	}
}

// endedByPeer tells a socket the server closed from a read that timed out.
func endedByPeer(err error) bool {
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
