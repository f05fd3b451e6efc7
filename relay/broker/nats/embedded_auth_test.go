package natsbroker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.2": true, "::1": true, "[::1]": true, "localhost": true,
		"": false, "0.0.0.0": false, "::": false, "10.0.0.5": false, "example.com": false,
	} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q): got %v, want %v", host, got, want)
		}
	}
}

// An embedded server beyond loopback with no credentials does not start.
func TestRunEmbeddedRefusesAnOpenServerBeyondLoopback(t *testing.T) {
	s, err := RunEmbedded(EmbeddedConfig{Host: "0.0.0.0", Port: -1, StoreDir: t.TempDir()})
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
	if !errors.Is(err, ErrOpenNATS) {
		t.Fatalf("got %v, want ErrOpenNATS", err)
	}
}

// With a creds file, anonymous clients and users of another account are
// refused, the file's user gets in (JetStream too), and a restart with the
// same file lets the same user in again.
func TestRunEmbeddedWithCreds(t *testing.T) {
	dir := t.TempDir()
	creds, other := filepath.Join(dir, "a.creds"), filepath.Join(dir, "b.creds")
	for _, p := range []string{creds, other} {
		if err := WriteCredsFile(p); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	if err := WriteCredsFile(creds); err == nil {
		t.Fatal("WriteCredsFile over an existing file: got no error")
	}
	for run := 0; run < 2; run++ {
		s, err := RunEmbedded(EmbeddedConfig{Host: "0.0.0.0", Port: -1, StoreDir: filepath.Join(dir, "store"), CredsFile: creds})
		if err != nil {
			t.Fatal(err)
		}
		url := strings.Replace(s.ClientURL(), "0.0.0.0", "127.0.0.1", 1)
		if nc, err := nats.Connect(url, nats.Timeout(5*time.Second)); err == nil {
			nc.Close()
			t.Errorf("run %d: anonymous client connected", run)
		}
		if nc, err := nats.Connect(url, nats.UserCredentials(other), nats.Timeout(5*time.Second)); err == nil {
			nc.Close()
			t.Errorf("run %d: a user of another account connected", run)
		}
		nc, err := nats.Connect(url, nats.UserCredentials(creds), nats.Timeout(5*time.Second))
		if err != nil {
			t.Fatalf("run %d: the creds file's user: %v", run, err)
		}
		js, err := jetstream.New(nc)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err = js.AccountInfo(ctx)
			cancel()
		}
		if err != nil {
			t.Errorf("run %d: JetStream for the creds file's account: %v", run, err)
		}
		nc.Close()
		s.Shutdown()
		s.WaitForShutdown()
	}
}
