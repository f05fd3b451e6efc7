package web

import (
	"net/http"
	"regexp"
)

// hostPattern limits which Host values are echoed into the CSP. Anything
// else falls back to 'self' alone.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$`)

// contentSecurityPolicy is strict: only this origin's scripts, styles and
// workers, no inline code, no framing, and WebSockets to the same host.
// 'self' already covers ws:/wss: of the same host in current browsers;
// the explicit entries keep older ones working.
func contentSecurityPolicy(host string) string {
	connect := "'self'"
	if hostPattern.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return "default-src 'none'; " +
		"script-src 'self'; " +
		"worker-src 'self'; " +
		"style-src 'self'; " +
		"img-src 'self' blob: data:; " +
		"media-src 'self' blob:; " +
		"connect-src " + connect + "; " +
		"manifest-src 'self'; " +
		"base-uri 'none'; " +
		"form-action 'self'; " +
		"frame-ancestors 'none'"
}

// withSecurityHeaders sets the headers every response of this package
// carries, errors included.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy(r.Host))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "microphone=(), geolocation=(), payment=(), usb=(), display-capture=(self), fullscreen=(self)")
		next.ServeHTTP(w, r)
	})
}
