package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerRoutes(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string
		wantBody           string
	}{
		{"landing", "GET", "/", 200, "text/html; charset=utf-8", `id="joinForm"`},
		{"board", "GET", "/r/team-1.x_y", 200, "text/html; charset=utf-8", `id="destination"`},
		{"viewer", "GET", "/v/Room64", 200, "text/html; charset=utf-8", `id="fullscreen"`},
		{"board head", "HEAD", "/r/abc", 200, "text/html; charset=utf-8", ""},
		{"room 64 chars", "GET", "/r/" + strings.Repeat("a", 64), 200, "text/html; charset=utf-8", ""},
		{"room 65 chars", "GET", "/r/" + strings.Repeat("a", 65), 400, "text/plain; charset=utf-8", "invalid room name"},
		{"room bad char", "GET", "/r/a%20b", 400, "text/plain; charset=utf-8", "invalid room name"},
		{"room unicode", "GET", "/v/%C3%A9t%C3%A9", 400, "text/plain; charset=utf-8", "invalid room name"},
		{"room nested", "GET", "/r/a/b", 404, "text/plain; charset=utf-8", ""},
		{"script", "GET", "/static/js/board.js", 200, "text/javascript; charset=utf-8", "import"},
		{"worker", "GET", "/static/js/socket-worker.js", 200, "text/javascript; charset=utf-8", "createImageBitmap"},
		{"style", "GET", "/static/css/app.css", 200, "text/css; charset=utf-8", "#source"},
		{"icon", "GET", "/favicon.ico", 200, "image/svg+xml", "<svg"},
		{"page not under static", "GET", "/static/board.html", 404, "text/plain; charset=utf-8", ""},
		{"missing asset", "GET", "/static/js/nope.js", 404, "text/plain; charset=utf-8", ""},
		{"unknown path", "GET", "/nope", 404, "text/plain; charset=utf-8", ""},
		{"post refused", "POST", "/", 405, "text/plain; charset=utf-8", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Host = "relay.example:8080"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status: got %d, want %d (body %q)", res.StatusCode, tc.wantStatus, body)
			}
			if got := res.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type: got %q, want %q", got, tc.wantType)
			}
			if !strings.Contains(string(body), tc.wantBody) {
				t.Errorf("body: does not contain %q", tc.wantBody)
			}
			for _, k := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
				if res.Header.Get(k) == "" {
					t.Errorf("header %s: missing", k)
				}
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := Handler()
	req := httptest.NewRequest("GET", "/r/abc", nil)
	req.Host = "relay.example:8080"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{
		"default-src 'none'", "script-src 'self'", "worker-src 'self'", "style-src 'self'",
		"connect-src 'self' ws://relay.example:8080 wss://relay.example:8080", "frame-ancestors 'none'", "base-uri 'none'",
	} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q: missing %q", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q: contains %q", csp, bad)
		}
	}
	if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options: got %q, want nosniff", got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
		t.Errorf("Cache-Control: got %q, want no-cache", got)
	}
}

func TestCSPRejectsOddHost(t *testing.T) {
	tests := []struct{ host, want string }{
		{"127.0.0.1:8080", "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"},
		{"[::1]:8080", "connect-src 'self' ws://[::1]:8080 wss://[::1]:8080;"},
		{"evil.example; script-src *", "connect-src 'self';"},
		{"a b", "connect-src 'self';"},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			if got := contentSecurityPolicy(tc.host); !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

func TestStaticETag(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/js/common.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("ETag: missing")
	}
	req := httptest.NewRequest("GET", "/static/js/common.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("revalidation: got %d, want 304", rec.Code)
	}
}

func TestValidRoom(t *testing.T) {
	tests := []struct {
		room string
		want bool
	}{
		{"a", true}, {"A-z_0.9", true}, {strings.Repeat("x", 64), true},
		{"", false}, {strings.Repeat("x", 65), false}, {"a/b", false}, {"a b", false}, {"é", false}, {"a?b", false},
	}
	for _, tc := range tests {
		if got := ValidRoom(tc.room); got != tc.want {
			t.Errorf("ValidRoom(%q): got %v, want %v", tc.room, got, tc.want)
		}
	}
}
