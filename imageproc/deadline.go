package imageproc

import (
	"context"
	"io"
)

// Deadlines. Go cannot preempt a goroutine, so a decode that has started
// cannot be stopped from outside. Instead, every decoder reads its input
// through a ctxReader, which hands out at most ctxChunk bytes per Read and
// fails every Read once the context is done or its CPU budget
// (WithCPUBudget) is used up. Decoders read all along their
// input (image/jpeg between scans and inside them, image/png and image/gif
// through their inflaters, lossless WebP through its bit reader), so a
// decode over its budget ends at its next Read: for the worst input per
// byte, a progressive JPEG of EOB runs, 256 bytes are about 6 scans, 45 ms
// at 4096x4096. Lossy WebP is the exception: x/image/webp reads its
// partitions whole, then decodes to the end, bounded by the pixel limit.
// The steps after the decode (resize, orientation, encode) are bounded by
// the pixel limit too; Reencode checks the context between them, and the
// PNG encoder stops at its next write. The work is never moved to another
// goroutine: the caller's goroutine (a Pool worker in the relay) keeps
// running it until it returns, so the memory and worker it holds stay
// counted until then.

// ctxChunk is the most a ctxReader returns per Read.
const ctxChunk = 256

// ctxReader reads b, failing once ctx is done.
type ctxReader struct {
	ctx context.Context
	b   []byte
}

func (r *ctxReader) Read(p []byte) (int, error) {
	if err := jobErr(r.ctx); err != nil {
		return 0, err
	}
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), ctxChunk)], r.b)
	r.b = r.b[n:]
	return n, nil
}

// ctxWriter writes to w, failing once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := jobErr(w.ctx); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// timeoutErr returns an ErrTimeout when ctx is done or its CPU budget
// (WithCPUBudget) used up, and nil otherwise.
func timeoutErr(ctx context.Context, step string) error {
	if err := jobErr(ctx); err != nil {
		return newErr(ErrTimeout, err, "image work abandoned during %s: over its time budget", step)
	}
	return nil
}
