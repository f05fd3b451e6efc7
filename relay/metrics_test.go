package relay

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// metricValue finds one sample line in a /metrics scrape.
func metricValue(t *testing.T, text, series string) string {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "absent"
}

// TestMetricsScriptedSession drives a session and checks the exact values
// it scrapes: accepted, rejected by code, dropped by reason, disconnects by
// reason. A subscriber with tiny socket buffers reads nothing, so the first
// frame's write blocks and the next ones pile up latest-wins.
func TestMetricsScriptedSession(t *testing.T) {
	srv, u := startServer(t, Config{FrameRate: -1, ByteRate: -1})
	pub := dial(t, u, "m", dialOpt{query: "client=pub"})
	pub.expect(TypeHello)
	stuck := rawConnSmall(t, u, "m", "client=stuck")
	pub.expect(TypePresence)
	for _, c := range srv.snapshot() {
		if c.client == "stuck" {
			if err := c.nc.Conn.(*net.TCPConn).SetWriteBuffer(4096); err != nil {
				t.Fatal(err)
			}
		}
	}

	big := readTestdata(t, "canvas-1920x1080.png") // 390 KB: more than both socket buffers
	for i := 0; i < 5; i++ {                       // 5 accepted
		pub.sendBinary(big)
		pub.expect(TypeAck)
	}
	for _, f := range []string{"bomb-100000x100000.png", "bomb-65535x65535.jpg", "sample.bmp", "truncated-header.gif"} {
		pub.sendBinary(readTestdata(t, f)) // 2 too_many_pixels, 1 unsupported_format, 1 invalid_image
		pub.expect(TypeError)
	}
	pub.sendText("hi")
	waitFor(t, 2*time.Second, func() bool {
		return metricValue(t, scrape(t, srv), `canvasrelay_frames_dropped_total{reason="superseded"}`) == "3"
	}, "frames 3, 4 and 5 to supersede the pending one")
	stuck.Close() // its blocked write fails; its pending frame is dropped
	pub.close()
	waitFor(t, 3*time.Second, func() bool { return len(srv.snapshot()) == 0 }, "both connections closed")

	text := scrape(t, srv)
	for series, want := range map[string]string{
		`canvasrelay_frames_received_total`:                            "9",
		`canvasrelay_frames_accepted_total`:                            "5",
		`canvasrelay_frames_rejected_total{code="too_many_pixels"}`:    "2",
		`canvasrelay_frames_rejected_total{code="unsupported_format"}`: "1",
		`canvasrelay_frames_rejected_total{code="invalid_image"}`:      "1",
		`canvasrelay_chat_messages_total`:                              "1",
		`canvasrelay_deliveries_total`:                                 "0",
		`canvasrelay_frames_dropped_total{reason="superseded"}`:        "3",
		`canvasrelay_frames_dropped_total{reason="write_failed"}`:      "1",
		`canvasrelay_frames_dropped_total{reason="closed"}`:            "1",
		`canvasrelay_disconnects_total{code="1000",reason="client"}`:   "1",
		`canvasrelay_disconnects_total{code="1006",reason="client"}`:   "1",
		`canvasrelay_connections`:                                      "0",
		`canvasrelay_members`:                                          "0",
		`canvasrelay_rooms`:                                            "0",
		`canvasrelay_rendition_cache_misses_total`:                     "0",
		`canvasrelay_upgrade_rejected_total{status="400"}`:             "absent",
	} {
		if got := metricValue(t, text, series); got != want {
			t.Errorf("%s: got %s, want %s", series, got, want)
		}
	}
	if strings.Contains(text, `room="`) || strings.Contains(text, `client="`) {
		t.Error("a metric carries a room or client label")
	}
}

func TestReadyzDuringShutdown(t *testing.T) {
	srv, u := startServer(t, Config{DrainDelay: 400 * time.Millisecond})
	c := dial(t, u, "drain", dialOpt{})
	c.expect(TypeHello)
	get := func() int {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("/readyz before shutdown: got %d, want 200", code)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	waitFor(t, time.Second, func() bool { return get() == http.StatusServiceUnavailable }, "/readyz to turn 503")
	select {
	case <-c.closed:
		t.Fatal("the connection closed before /readyz turned not-ready and the drain delay passed")
	default:
	}
	if code := c.closeCode(3 * time.Second); code != CloseGoingAway {
		t.Fatalf("close after drain: got %d, want 1001", code)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestAPIRooms(t *testing.T) {
	secret := []byte("0123456789abcdef")
	srv, u := startServer(t, Config{AuthSecret: secret})
	tok, _ := MintToken(secret, Claims{Room: "stats", Publish: true, Subscribe: true, Expires: time.Now().Add(time.Hour).Unix()})
	admin, _ := MintToken(secret, Claims{Room: "*", Admin: true, Expires: time.Now().Add(time.Hour).Unix()})
	a := dial(t, u, "stats", dialOpt{query: "client=a&token=" + tok})
	a.expect(TypeHello)
	dial(t, u, "stats", dialOpt{query: "client=b&token=" + tok}).expect(TypeHello)
	a.expect(TypePresence)
	a.sendBinary(readTestdata(t, "photo-64x48.jpg"))
	a.expect(TypeAck)

	get := func(auth string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/rooms", nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	if rec := get(""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("no token: got %d, want 401", rec.Code)
	}
	if rec := get(tok); rec.Code != http.StatusForbidden {
		t.Fatalf("room token: got %d, want 403", rec.Code)
	}
	rec := get(admin)
	var body struct {
		Rooms []RoomStats `json:"rooms"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
		t.Fatalf("admin: got %d %s", rec.Code, rec.Body)
	}
	if len(body.Rooms) != 1 || body.Rooms[0].Room != "stats" || body.Rooms[0].Members != 2 || body.Rooms[0].Publishers != 1 || body.Rooms[0].LastFrame == 0 {
		t.Fatalf("rooms: got %+v, want stats with 2 members, 1 publisher and a last frame", body.Rooms)
	}
}
