package relay

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestShutdownSends1001(t *testing.T) {
	srv, url := startServer(t, Config{})
	var clients []*tclient
	for i := 0; i < 20; i++ {
		c := dial(t, url, "room"+itoa(i%3), dialOpt{})
		c.expect(TypeHello)
		clients = append(clients, c)
	}
	// One client is frozen: shutdown must not wait on it past the bound.
	frozen := dial(t, url, "room0", dialOpt{frozen: true})
	_ = frozen

	httpURL := "http" + url[2:]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	took := time.Since(start)
	t.Logf("shutdown took %s", took)
	if took > 3*time.Second {
		t.Errorf("shutdown took %s, want under 3s", took)
	}
	for i, c := range clients {
		if code := c.closeCode(2 * time.Second); code != CloseGoingAway {
			t.Errorf("client %d: got close code %d, want 1001", i, code)
		}
	}
	resp, err := http.Get(httpURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz after shutdown: got %d, want 503", resp.StatusCode)
	}
	if _, resp, err := tryDial(t, url, "late", dialOpt{}); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after shutdown: got %v, want HTTP 503", err)
	}
}
