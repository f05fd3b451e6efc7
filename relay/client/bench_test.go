package client

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

// noisePNG encodes a side×side PNG of random pixels (about 4 bytes a pixel).
func noisePNG(tb testing.TB, side int) []byte {
	tb.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(rnd.Uint32())
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkSend measures send → ack against the real relay (with one
// subscriber, so frames are fanned out), by frame size and send window.
func BenchmarkSend(b *testing.B) {
	srv, err := relay.New(relay.Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	r := &realRelay{srv: srv}
	r.http = newBenchServer(srv)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		r.http.Close()
	}()
	for _, side := range []int{16, 160} { // ~1 KiB, ~100 KiB
		img := noisePNG(b, side)
		for _, window := range []int{1, 8} {
			b.Run(fmt.Sprintf("bytes=%d/window=%d", len(img), window), func(b *testing.B) {
				ctx := context.Background()
				pub, err := Dial(ctx, Config{URL: r.url("bench"), Window: window})
				if err != nil {
					b.Fatal(err)
				}
				defer pub.Close()
				sub, err := Dial(ctx, Config{URL: r.url("bench")})
				if err != nil {
					b.Fatal(err)
				}
				defer sub.Close()
				go func() {
					for range sub.Frames() {
					}
				}()
				b.SetBytes(int64(len(img)))
				b.ReportAllocs()
				b.ResetTimer()
				ps := make([]*Pending, 0, b.N)
				for i := 0; i < b.N; i++ {
					p, err := pub.SendAsync(ctx, img)
					if err != nil {
						b.Fatal(err)
					}
					ps = append(ps, p)
				}
				for _, p := range ps {
					if _, err := p.Result(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
