package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "canvasrelay test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSAndTokenRoundTrip runs the real binary with TLS and a token
// secret: a token minted by "canvasrelay token" opens a wss connection that
// relays an image; no token gets 401.
func TestTLSAndTokenRoundTrip(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	const secret = "0123456789abcdef-test"
	t.Setenv("CANVASRELAY_AUTH_SECRET", secret)
	_, addr := startBinary(t, "serve", "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile, "--log-level", "error")

	var out, errb strings.Builder
	if err := Run(context.Background(), []string{"token", "--room", "secure", "--publish", "--subscribe", "--ttl", "1h"}, &out, &errb); err != nil {
		t.Fatalf("token: %v (%s)", err, errb.String())
	}
	tok := strings.TrimSpace(out.String())

	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if _, resp, err := gws.NewClient(gws.BuiltinEventHandler{}, &gws.ClientOption{Addr: "wss://" + addr + "/ws/secure", TlsConfig: tlsConf}); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("no token: got %v, want HTTP 401", err)
	}
	recv := &closeRecorder{hello: make(chan struct{}), closed: make(chan struct{})}
	frames := make(chan []byte, 4)
	sub, _, err := gws.NewClient(&frameCatcher{closeRecorder: recv, frames: frames}, &gws.ClientOption{Addr: "wss://" + addr + "/ws/secure?token=" + tok, TlsConfig: tlsConf})
	if err != nil {
		t.Fatalf("wss with token: %v", err)
	}
	go sub.ReadLoop()
	defer sub.WriteClose(1000, nil)
	<-recv.hello
	pubRec := &closeRecorder{hello: make(chan struct{}), closed: make(chan struct{})}
	pub, _, err := gws.NewClient(pubRec, &gws.ClientOption{Addr: "wss://" + addr + "/ws/secure?token=" + tok, TlsConfig: tlsConf})
	if err != nil {
		t.Fatal(err)
	}
	go pub.ReadLoop()
	defer pub.WriteClose(1000, nil)
	<-pubRec.hello
	img, err := os.ReadFile("../testdata/photo-64x48.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.WriteMessage(gws.OpcodeBinary, img); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-frames:
		if string(got) != string(img) {
			t.Fatalf("got %d bytes over wss, want the %d-byte image", len(got), len(img))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no frame over wss")
	}
}

type frameCatcher struct {
	*closeRecorder
	frames chan []byte
}

func (f *frameCatcher) OnMessage(c *gws.Conn, m *gws.Message) {
	if m.Opcode == gws.OpcodeBinary {
		f.frames <- append([]byte(nil), m.Bytes()...)
		m.Close()
		return
	}
	f.closeRecorder.OnMessage(c, m)
}

func TestTokenCommandUsage(t *testing.T) {
	t.Setenv("CANVASRELAY_AUTH_SECRET", "")
	for _, args := range [][]string{
		{"token", "--room", "a", "--publish"},                              // no secret
		{"token", "--auth-secret", "s", "--publish"},                       // no room
		{"token", "--auth-secret", "s", "--room", "a"},                     // no rights
		{"token", "--auth-secret", "s", "--room", "bad room", "--publish"}, // bad room
	} {
		var out, errb strings.Builder
		if err := Run(context.Background(), args, &out, &errb); ExitCode(err) != 2 {
			t.Errorf("%v: got exit %d (%v), want 2", args, ExitCode(err), err)
		}
	}
}
