package relay

import (
	"net/http"
	"strings"
	"testing"
)

// With no AllowedOrigins, a browser's Origin must be http or https AND name
// the request's host: a page from a file, a sandbox (null), a browser
// extension or any other scheme is refused with 403 before the upgrade,
// even when it names the relay's host. A program's request (no Origin)
// passes.
func TestOriginSameHostHTTPOnly(t *testing.T) {
	_, url := startServer(t, Config{})
	host := strings.TrimPrefix(url, "ws://")
	for _, tc := range []struct {
		origin string
		want   int // 0: upgraded
	}{
		{"", 0},
		{"http://" + host, 0},
		{"HTTPS://" + strings.ToUpper(host), 0},
		{"null", http.StatusForbidden},
		{"file://", http.StatusForbidden},
		{"file://" + host, http.StatusForbidden},
		{"chrome-extension://" + host, http.StatusForbidden},
		{"moz-extension://" + host, http.StatusForbidden},
		{"ws://" + host, http.StatusForbidden},
		{"ftp://" + host, http.StatusForbidden},
		{"http://" + host + ".evil.example", http.StatusForbidden},
		{"http://evil.example", http.StatusForbidden},
		{"http://user@evil.example@" + host, http.StatusForbidden},
		{"http:" + host, http.StatusForbidden},
		{"http://" + host + "/path", http.StatusForbidden},
	} {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := tryDial(t, url, "o", dialOpt{header: h})
		switch {
		case tc.want == 0 && err != nil:
			t.Errorf("Origin %q: got %v, want an upgrade", tc.origin, err)
		case tc.want == 0:
			c.expect(TypeHello)
			c.close()
		case err == nil:
			c.close()
			t.Errorf("Origin %q: upgraded, want HTTP %d", tc.origin, tc.want)
		case resp == nil || resp.StatusCode != tc.want:
			t.Errorf("Origin %q: got %v, want HTTP %d", tc.origin, err, tc.want)
		}
	}
}

// An allow-list is the operator's word: it may list any scheme.
func TestOriginAllowListTakesAnyScheme(t *testing.T) {
	_, url := startServer(t, Config{AllowedOrigins: []string{"chrome-extension://abcdef", "https://draw.example"}})
	host := strings.TrimPrefix(url, "ws://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"chrome-extension://abcdef", true},
		{"https://draw.example", true},
		{"http://" + host, false}, // the own host is not implied once a list is given
		{"null", false},
	} {
		h := http.Header{}
		h.Set("Origin", tc.origin)
		c, _, err := tryDial(t, url, "o", dialOpt{header: h})
		if (err == nil) != tc.ok {
			t.Errorf("Origin %q: got err %v, want allowed %v", tc.origin, err, tc.ok)
		}
		if err == nil {
			c.expect(TypeHello)
			c.close()
		}
	}
}
