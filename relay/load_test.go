package relay

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// Test500ClientsOneRoom: 500 concurrent clients join one room. Every one
// sees exact counts (hello, then +1 per later join, in order), and every
// reader gets the publisher's last frame.
func Test500ClientsOneRoom(t *testing.T) {
	const n = 500
	_, url := startServer(t, Config{MaxConnsPerIP: 2 * n})
	clients := make([]*tclient, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, n)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, _, err := tryDial(t, url, "crowd", dialOpt{query: fmt.Sprintf("client=c%03d", i), buffer: 2 * n})
			if err != nil {
				errs <- err
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.close()
		}
	})

	// Each client's counts: hello k, then presence k+1 … n, each a join.
	var pub *tclient
	for i, c := range clients {
		h := c.expect(TypeHello)
		k := num(h.ev, "count")
		for want := k + 1; want <= n; want++ {
			p := c.expect(TypePresence)
			if num(p.ev, "count") != want || str(p.ev, "event") != "join" {
				t.Fatalf("client %d: got %s, want a join with count %d", i, p.data, want)
			}
		}
		if k == 1 {
			pub = c
		}
	}
	if pub == nil {
		t.Fatal("no client got hello count 1")
	}

	frames := [][]byte{
		readTestdata(t, "canvas-transparent-64x48.png"),
		readTestdata(t, "photo-64x48.jpg"),
		readTestdata(t, "canvas-opaque-64x48.png"),
	}
	for _, f := range frames {
		pub.sendBinary(f)
		pub.expect(TypeAck)
	}
	last := frames[len(frames)-1]
	for i, c := range clients {
		if c == pub {
			continue
		}
		var got []byte
		deadline := time.Now().Add(10 * time.Second)
		for !bytes.Equal(got, last) {
			if time.Now().After(deadline) {
				t.Fatalf("client %d never got the last frame", i)
			}
			m := c.next(10 * time.Second)
			if m.op == gws.OpcodeBinary {
				got = m.data
			}
		}
	}
}
