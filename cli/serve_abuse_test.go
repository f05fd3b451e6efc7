package cli

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// TestServeHandshakeTimeouts runs the real binary, plain and with TLS, and
// holds connections that never finish their request, which the relay's
// handler never sees: silent TCP connections, request headers sent one line
// a second (slowloris), TLS connections that never send a ClientHello, and
// TLS connections that send half a request. The binary's http.Server
// timeouts (ReadHeaderTimeout 5 s, which also bounds the TLS handshake)
// must close every one of them; a request with headers over MaxHeaderBytes
// (16 KiB) gets 431 at once; a normal WebSocket pair relays an image, over
// ws and wss, while they are held; and afterwards each process's open file
// descriptors are back to their baseline.
func TestServeHandshakeTimeouts(t *testing.T) {
	const (
		headerTimeout = 5 * time.Second // serve.go: ReadHeaderTimeout
		slack         = 3 * time.Second // stated bound: closed within headerTimeout + slack
		perKind       = 50
	)
	plainCmd, plain := startBinary(t, "serve", "--addr", "127.0.0.1:0", "--log-level", "error")
	certFile, keyFile, pool := selfSigned(t)
	tlsCmd, secure := startBinary(t, "serve", "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--log-level", "error")
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	pids := map[string]int{"plain": plainCmd.Process.Pid, "tls": tlsCmd.Process.Pid}
	fds0 := map[string]int{}
	for name, pid := range pids {
		fds0[name] = openFDs(t, pid)
	}

	type result struct {
		kind string
		took time.Duration
		err  error
	}
	results := make(chan result, 4*perKind)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var slow []net.Conn // slowloris connections, fed one header line a second
	hold := func(kind string, nc net.Conn, start time.Time) {
		t.Cleanup(func() { nc.Close() })
		go func() {
			_ = nc.SetReadDeadline(start.Add(headerTimeout + slack + 5*time.Second))
			_, err := io.Copy(io.Discard, nc) // until the server closes it
			results <- result{kind, time.Since(start), err}
		}()
	}
	for i := 0; i < perKind; i++ {
		start := time.Now()
		nc, err := net.Dial("tcp", plain)
		if err != nil {
			t.Fatal(err)
		}
		hold("silent", nc, start)

		nc, err = net.Dial("tcp", plain)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "GET /ws/slow-%d HTTP/1.1\r\nHost: %s\r\n", i, plain)
		hold("slowloris", nc, start)
		slow = append(slow, nc)

		nc, err = net.Dial("tcp", secure)
		if err != nil {
			t.Fatal(err)
		}
		hold("tls-silent", nc, start)

		tc, err := tls.Dial("tcp", secure, tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now() // the request starts after the handshake
		fmt.Fprintf(tc, "GET /ws/slow-%d HTTP/1.1\r\nHost: %s\r\n", i, secure)
		hold("tls-slowloris", tc, start)
		slow = append(slow, tc)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for line := 0; line < 30; line++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			for _, nc := range slow {
				_, _ = fmt.Fprintf(nc, "X-Slow-%d: 1\r\n", line)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// Headers over MaxHeaderBytes: 431 at once.
	big, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	_ = big.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(big, "GET /ws/big HTTP/1.1\r\nHost: %s\r\nX-Big: %s\r\n\r\n", plain, strings.Repeat("b", 32<<10))
	if resp, err := http.ReadResponse(bufio.NewReader(big), nil); err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers over 16 KiB: got %v, want HTTP 431", describeResp(resp, err))
	}

	// A normal pair relays an image on each server meanwhile.
	img, err := os.ReadFile("../testdata/photo-64x48.jpg")
	if err != nil {
		t.Fatal(err)
	}
	relayOnce(t, "ws://"+plain, nil, img)
	relayOnce(t, "wss://"+secure, tlsConf, img)

	byKind := map[string][2]time.Duration{} // min, max
	for i := 0; i < 4*perKind; i++ {
		r := <-results
		var ne net.Error
		if errors.As(r.err, &ne) && ne.Timeout() {
			t.Errorf("%s connection still open after %s, want closed by the server within %s", r.kind, r.took.Round(time.Millisecond), headerTimeout+slack)
			continue
		}
		if r.took > headerTimeout+slack {
			t.Errorf("%s connection closed after %s, want within %s", r.kind, r.took.Round(time.Millisecond), headerTimeout+slack)
		}
		mm, ok := byKind[r.kind]
		if !ok {
			mm[0] = r.took
		}
		byKind[r.kind] = [2]time.Duration{min(mm[0], r.took), max(mm[1], r.took)}
	}
	for _, kind := range []string{"silent", "slowloris", "tls-silent", "tls-slowloris"} {
		mm := byKind[kind]
		t.Logf("%d %s connections closed by the server after %s to %s (ReadHeaderTimeout %s)", perKind, kind, mm[0].Round(time.Millisecond), mm[1].Round(time.Millisecond), headerTimeout)
	}
	for name, pid := range pids {
		var n int
		deadline := time.Now().Add(5 * time.Second)
		for n = openFDs(t, pid); n > fds0[name] && time.Now().Before(deadline); n = openFDs(t, pid) {
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%s server: %d open file descriptors before, %d after", name, fds0[name], n)
		if n > fds0[name] {
			t.Errorf("%s server: got %d open file descriptors after the flood, want at most %d (its baseline)", name, n, fds0[name])
		}
	}
}

// relayOnce connects a publisher and a subscriber to base/ws/calm and
// checks that an image goes through within 5 s.
func relayOnce(t *testing.T, base string, tlsConf *tls.Config, img []byte) {
	t.Helper()
	subRec := &closeRecorder{hello: make(chan struct{}), closed: make(chan struct{})}
	frames := make(chan []byte, 4)
	sub, _, err := gws.NewClient(&frameCatcher{closeRecorder: subRec, frames: frames}, &gws.ClientOption{Addr: base + "/ws/calm", TlsConfig: tlsConf})
	if err != nil {
		t.Fatalf("%s: subscriber: %v", base, err)
	}
	go sub.ReadLoop()
	defer func() { _ = sub.WriteClose(1000, nil); <-subRec.closed }()
	pubRec := &closeRecorder{hello: make(chan struct{}), closed: make(chan struct{})}
	pub, _, err := gws.NewClient(pubRec, &gws.ClientOption{Addr: base + "/ws/calm", TlsConfig: tlsConf})
	if err != nil {
		t.Fatalf("%s: publisher: %v", base, err)
	}
	go pub.ReadLoop()
	defer func() { _ = pub.WriteClose(1000, nil); <-pubRec.closed }()
	for _, h := range []chan struct{}{subRec.hello, pubRec.hello} {
		select {
		case <-h:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no hello within 5s", base)
		}
	}
	start := time.Now()
	if err := pub.WriteMessage(gws.OpcodeBinary, img); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-frames:
		if string(got) != string(img) {
			t.Fatalf("%s: got %d bytes, want the %d-byte image", base, len(got), len(img))
		}
		t.Logf("%s: image relayed in %s while the stalled connections were held", base, time.Since(start).Round(time.Microsecond))
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no frame within 5s while the stalled connections were held", base)
	}
}

func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("counting open files: %v", err)
	}
	return len(ents)
}

func describeResp(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}
