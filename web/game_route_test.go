package web

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGameRoutes: the game page and its assets, and the room check.
func TestGameRoutes(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, path string
		wantStatus int
		wantBody   string
	}{
		{"game page", "/g/team-1.x_y", 200, `id="guessForm"`},
		{"game page loads its script", "/g/abc", 200, `src="/static/js/game.js"`},
		{"game bad room", "/g/a%20b", 400, "invalid room name"},
		{"game room 65 chars", "/g/" + strings.Repeat("a", 65), 400, "invalid room name"},
		{"game nested", "/g/a/b", 404, ""},
		{"game script", "/static/js/game.js", 200, "openSocket"},
		{"game views", "/static/js/game-view.js", 200, "class Scoreboard"},
		{"game style", "/static/css/game.css", 200, ".game-banner"},
		{"game page not under static", "/static/game.html", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			body, _ := io.ReadAll(rec.Result().Body)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status: got %d, want %d (body %q)", rec.Code, tc.wantStatus, body)
			}
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("body: does not contain %q", tc.wantBody)
			}
		})
	}
}
