package client

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"

	"github.com/lxzan/gws"
)

// Pending is one binary frame sent and waiting for its answer.
type Pending struct {
	Seq   int64     // the frame's seq on its connection
	Sent  time.Time // when the write started
	Bytes int       // the frame's size

	cn      *conn         // the connection it was sent on
	done    chan struct{} // closed by resolve
	ack     Ack           // set before done is closed
	err     error         // set before done is closed
	release func()        // frees the window slot; idempotent
}

// Done is closed when the answer (or the loss of the connection) is known.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Result returns the outcome; call it after Done is closed. The error is a
// *RejectError for an `error` answer, or wraps ErrConnectionLost.
func (p *Pending) Result() (Ack, error) {
	<-p.done
	return p.ack, p.err
}

// Wait waits for the outcome or ctx. When ctx ends first, the frame is given
// up: it stops counting against the window, its late answer is ignored, and
// its outcome (here and in Result) is an error wrapping ctx.Err().
func (p *Pending) Wait(ctx context.Context) (Ack, error) {
	select {
	case <-p.done:
		return p.ack, p.err
	case <-ctx.Done():
	}
	if p.cn.take(p.Seq) != nil {
		p.resolve(Ack{}, fmt.Errorf("waiting for receipt of seq %d: %w", p.Seq, ctx.Err()))
	}
	<-p.done // resolved by us, or by the read loop just before
	return p.ack, p.err
}

func (p *Pending) resolve(ack Ack, err error) {
	p.ack, p.err = ack, err
	close(p.done)
	p.release()
}

// Send sends one image as a binary frame and waits for its ack. A rejected
// frame gives a *RejectError; a frame whose connection ended first gives an
// error wrapping ErrConnectionLost. With Config.Reconnect, Send waits (within
// ctx) for a redial under way.
func (c *Client) Send(ctx context.Context, img []byte) (Ack, error) {
	p, err := c.SendAsync(ctx, img)
	if err != nil {
		return Ack{}, err
	}
	return p.Wait(ctx)
}

// SendAsync writes one image as a binary frame and returns without waiting for
// its answer. It waits (within ctx) for a free slot of the send window and for
// a live connection. The write itself is bounded by ctx's deadline and
// Config.WriteTimeout; a write cut short ends the connection. An image bigger
// than the hello's max_bytes is not sent: it gives a local *RejectError.
// img is not kept after SendAsync returns.
func (c *Client) SendAsync(ctx context.Context, img []byte) (*Pending, error) {
	return c.sendAsync(ctx, nil, img)
}

// SendPatch sends img as a patch of this client's layer at (x, y), and
// waits for its answer, like Send: the relay needs a full frame of this
// client in the room first, and the patch must fit inside it (else a
// *RejectError with code bad_request). A keyframe_needed rejection means:
// send a full frame. The patch command and the image go out back to back,
// with nothing between them.
func (c *Client) SendPatch(ctx context.Context, x, y int, img []byte) (Ack, error) {
	p, err := c.SendPatchAsync(ctx, x, y, img)
	if err != nil {
		return Ack{}, err
	}
	return p.Wait(ctx)
}

// SendPatchAsync is SendPatch without waiting for the answer (see
// SendAsync).
func (c *Client) SendPatchAsync(ctx context.Context, x, y int, img []byte) (*Pending, error) {
	if x < 0 || y < 0 {
		return nil, &RejectError{Code: "bad_request", Message: "a patch's x and y must not be negative", Local: true}
	}
	return c.sendAsync(ctx, fmt.Appendf(nil, `{"type":"`+wire.TypePatch+`","x":%d,"y":%d}`, x, y), img)
}

// sendAsync writes cmd (a text command, when not nil) and img.
func (c *Client) sendAsync(ctx context.Context, cmd, img []byte) (*Pending, error) {
	if max := c.Hello().MaxBytes; max > 0 && len(img) > max {
		return nil, &RejectError{
			Code:    wire.CodeTooLarge,
			Message: fmt.Sprintf("%d bytes is over the server's max_bytes %d", len(img), max),
			Local:   true,
		}
	}
	select {
	case c.window <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for send window: %w", ctx.Err())
	case <-c.done:
		return nil, c.Err()
	}
	release := sync.OnceFunc(func() { <-c.window })
	cn, err := c.current(ctx)
	if err != nil {
		release()
		return nil, err
	}
	p, err := cn.sendBinary(ctx, cmd, img, release)
	if err != nil {
		release()
		return nil, err
	}
	c.sent.Add(1)
	return p, nil
}

func (cn *conn) sendBinary(ctx context.Context, cmd, img []byte, release func()) (*Pending, error) {
	cn.writeMu.Lock()
	defer cn.writeMu.Unlock()
	if cn.closing.Load() {
		return nil, ErrClosed
	}
	p := &Pending{Seq: cn.nextSeq + 1, Bytes: len(img), cn: cn, done: make(chan struct{}), release: release}
	cn.mu.Lock()
	if cn.lostErr != nil || cn.pending == nil {
		err := cn.lostErr
		cn.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	cn.pending[p.Seq] = p
	cn.mu.Unlock()
	cn.nextSeq++

	deadline := time.Now().Add(cn.c.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = cn.ws.NetConn().SetWriteDeadline(deadline)
	p.Sent = time.Now()
	var err error
	if cmd != nil {
		err = cn.ws.WriteMessage(gws.OpcodeText, cmd)
	}
	if err == nil {
		err = cn.ws.WriteMessage(gws.OpcodeBinary, img)
	}
	if err != nil {
		// gws has closed the connection. If p is no longer pending, the read
		// loop has resolved it (an answer, or OnClose): its result stands.
		if cn.take(p.Seq) == nil {
			return p, nil
		}
		cn.c.lost.Add(1)
		return nil, fmt.Errorf("%w: write: %w", ErrConnectionLost, err)
	}
	return p, nil
}

// Chat sends a chat line.
func (c *Client) Chat(ctx context.Context, text string) error {
	return c.SendJSON(ctx, struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{wire.TypeChat, text})
}

// SendJSON sends v as one JSON text message (for example a game command).
func (c *Client) SendJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("send json: %w", err)
	}
	cn, err := c.current(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(c.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := cn.write(gws.OpcodeText, b, deadline); err != nil {
		return fmt.Errorf("%w: write: %w", ErrConnectionLost, err)
	}
	return nil
}
