package relay

import (
	"bufio"
	"net"
	"sync/atomic"
	"time"
)

// Incomplete messages. gws holds a data message until its last byte (and
// fragment) arrives, up to MaxBytes. A peer could start a message and never
// finish it, while pings or pongs keep the connection looking alive. So the
// relay counts the bytes it reads and the bytes that completed messages or
// control frames account for: bytes read beyond those belong to a message
// in progress, and a message may not stay in progress longer than
// Config.ReadTimeout since the last one completed (pingLoop closes the
// connection with 4003). A big image on a slow link therefore has
// ReadTimeout (50 s by default) to arrive.

// countingReader counts the bytes read from a socket. Its Read runs only on
// the connection's read goroutine; n is read by pingLoop.
type countingReader struct {
	pre []byte // bytes the HTTP server had buffered past the handshake
	c   net.Conn
	n   atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		r.pre = r.pre[n:]
		r.n.Add(int64(n))
		return n, nil
	}
	n, err := r.c.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// newCountingReader takes over the hijacked connection's buffered reader.
func newCountingReader(c net.Conn, hijacked *bufio.Reader) (*countingReader, *bufio.Reader) {
	r := &countingReader{c: c}
	if n := hijacked.Buffered(); n > 0 {
		pre, _ := hijacked.Peek(n)
		r.pre = append([]byte(nil), pre...)
	}
	return r, bufio.NewReaderSize(r, 4<<10)
}

// progress tracks whether a message is in progress on a connection.
type progress struct {
	rd *countingReader
	br *bufio.Reader // owned by the read goroutine

	accounted atomic.Int64 // bytes that completed messages and control frames
	since     atomic.Int64 // unix nanos when the last message completed
}

// messageDone is called on the read goroutine when a data message is
// complete: everything consumed so far is accounted for.
func (p *progress) messageDone(now time.Time) {
	p.accounted.Store(p.rd.n.Load() - int64(p.br.Buffered()))
	p.since.Store(now.UnixNano())
}

// control accounts for a control frame from the client (masked, payload at
// most 125 bytes: a 6-byte header).
func (p *progress) control(payload int) {
	p.accounted.Add(int64(6 + payload))
}

// stalled reports whether a message has been in progress for longer than d.
func (p *progress) stalled(now time.Time, d time.Duration) bool {
	return p.rd.n.Load() > p.accounted.Load() && now.Sub(time.Unix(0, p.since.Load())) > d
}
