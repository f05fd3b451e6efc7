package cli

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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

	"github.com/canvasrelay/canvasrelay/relay"
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
	const sec = "0123456789abcdef-test"
	for _, args := range [][]string{
		{"token", "--room", "a", "--publish"},                              // no secret
		{"token", "--auth-secret", "short", "--room", "a", "--publish"},    // secret too short
		{"token", "--auth-secret", sec, "--publish"},                       // no room
		{"token", "--auth-secret", sec, "--room", "a"},                     // no rights
		{"token", "--auth-secret", sec, "--room", "bad room", "--publish"}, // bad room
		{"token", "--auth-secret", sec, "--room", "a", "--publish", "--sub", "not an id"},
		{"token", "--auth-secret", sec, "--room", "a", "--publish", "--ttl", "-1s"},
		{"token", "--auth-secret", sec, "--room", "a", "--publish", "--kid", "k"}, // --kid without --key
		{"token", "--key", "/nonexistent.pem", "--room", "a", "--publish"},
		{"token", "--auth-secret", sec, "--room", "a", "--publish", "extra"},
	} {
		var out, errb strings.Builder
		if err := Run(context.Background(), args, &out, &errb); ExitCode(err) != 2 || out.Len() != 0 {
			t.Errorf("%v: got exit %d (%v) and stdout %q, want 2 and nothing", args, ExitCode(err), err, out.String())
		}
	}
	var out, errb strings.Builder
	if err := Run(context.Background(), []string{"token", "--help"}, &out, &errb); ExitCode(err) != 0 {
		t.Fatalf("--help: got exit %d (%v), want 0", ExitCode(err), err)
	}
	for _, want := range []string{"JWT", "--key", "--sub", "--name", "--admin", "RS256", "ES256", "EdDSA", "leeway", "CANVASRELAY_AUTH_SECRET"} {
		if !strings.Contains(errb.String()+out.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

// mintCLI runs "canvasrelay token" and returns the token.
func mintCLI(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb strings.Builder
	if err := Run(context.Background(), append([]string{"token"}, args...), &out, &errb); err != nil {
		t.Fatalf("token %v: %v (%s)", args, err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// TestTokenCommandClaims: every flag lands in its claim, and the relay's
// verifier accepts the result.
func TestTokenCommandClaims(t *testing.T) {
	t.Setenv("CANVASRELAY_AUTH_SECRET", "")
	const sec = "0123456789abcdef-test"
	tok := mintCLI(t, "--auth-secret", sec, "--room", "team-*", "--publish", "--admin", "--sub", "alice", "--name", "Alice B.", "--ttl", "90m")
	v, err := relay.NewVerifier([]byte(sec), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := relay.Claims{Room: "team-*", Publish: true, Admin: true, Subject: "alice", Name: "Alice B.", IssuedAt: c.IssuedAt, Expires: c.IssuedAt + 90*60}
	if c != want {
		t.Fatalf("claims: got %+v, want %+v", c, want)
	}
	if d := time.Now().Unix() - c.IssuedAt; d < 0 || d > 60 {
		t.Fatalf("iat %d is not now", c.IssuedAt)
	}
}

// writeKeyPEM writes a private key as PKCS #8 PEM and returns the file and
// the public key's PEM.
func writeKeyPEM(t *testing.T, dir, name string, key crypto.Signer) (file string, public []byte) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
}

// TestServePublicKeysRoundTrip runs the real binary with --auth-public-keys:
// tokens minted by "canvasrelay token --key" with an RSA, an ECDSA P-256 and
// an Ed25519 key open a room; an HS256 token signed with the public key
// file's bytes (alg confusion) is refused with 401.
func TestServePublicKeysRoundTrip(t *testing.T) {
	t.Setenv("CANVASRELAY_AUTH_SECRET", "")
	dir := t.TempDir()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, dk, _ := ed25519.GenerateKey(rand.Reader)
	var pubs []byte
	var files []string
	for name, k := range map[string]crypto.Signer{"rsa.pem": rk, "ec.pem": ek, "ed.pem": dk} {
		f, pub := writeKeyPEM(t, dir, name, k)
		files, pubs = append(files, f), append(pubs, pub...)
	}
	keysFile := filepath.Join(dir, "public.pem")
	if err := os.WriteFile(keysFile, pubs, 0o644); err != nil {
		t.Fatal(err)
	}
	_, addr := startBinary(t, "serve", "--addr", "127.0.0.1:0", "--auth-public-keys", keysFile, "--log-level", "error")
	for _, f := range files {
		tok := mintCLI(t, "--key", f, "--room", "keys", "--subscribe", "--sub", "bob", "--ttl", "5m")
		rec := &helloRecorder{closeRecorder: closeRecorder{hello: make(chan struct{}), closed: make(chan struct{})}}
		c, _, err := gws.NewClient(rec, &gws.ClientOption{Addr: "ws://" + addr + "/ws/keys?token=" + tok})
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		go c.ReadLoop()
		select {
		case <-rec.hello:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no hello", filepath.Base(f))
		}
		if !strings.Contains(rec.first, `"client":"bob"`) {
			t.Fatalf("%s: hello %s, want client bob (the token's sub)", filepath.Base(f), rec.first)
		}
		_ = c.WriteClose(1000, nil)
	}
	forged := mintCLI(t, "--auth-secret", string(pubs), "--room", "keys", "--subscribe")
	if _, resp, err := gws.NewClient(gws.BuiltinEventHandler{}, &gws.ClientOption{Addr: "ws://" + addr + "/ws/keys?token=" + forged}); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("HS256 signed with the public key file: got %v, want HTTP 401", err)
	}
}

// helloRecorder keeps the text of the hello event.
type helloRecorder struct {
	closeRecorder
	first string
}

func (h *helloRecorder) OnMessage(c *gws.Conn, m *gws.Message) {
	if h.first == "" {
		h.first = m.Data.String()
	}
	h.closeRecorder.OnMessage(c, m)
}

// TestServeAuthPublicKeysRefused: serve does not start with a key file it
// cannot use, and says why.
func TestServeAuthPublicKeysRefused(t *testing.T) {
	dir := t.TempDir()
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privFile, _ := writeKeyPEM(t, dir, "private.pem", ek)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, p384Pub := writeKeyPEM(t, dir, "p384.pem", p384)
	p384File := filepath.Join(dir, "p384.pub")
	if err := os.WriteFile(p384File, p384Pub, 0o644); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		privFile:                          "private key",
		p384File:                          "P-256",
		filepath.Join(dir, "missing.pem"): "no such file",
	} {
		var out, errb strings.Builder
		err := Run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--auth-public-keys", file}, &out, &errb)
		if ExitCode(err) != 2 || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got exit %d (%v), want 2 mentioning %q", filepath.Base(file), ExitCode(err), err, want)
		}
	}
}
