package relay

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// originPattern is one entry of Config.AllowedOrigins.
type originPattern struct {
	any    bool   // "*"
	scheme string // "" matches any scheme
	host   string // lower case, with port if given; "*." prefix is a wildcard
}

func parseOriginPattern(s string) (originPattern, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "*" {
		return originPattern{any: true}, nil
	}
	if s == "" {
		return originPattern{}, fmt.Errorf("relay: empty origin pattern")
	}
	p := originPattern{}
	if i := strings.Index(s, "://"); i >= 0 {
		p.scheme, s = s[:i], s[i+3:]
	}
	s = strings.TrimSuffix(s, "/")
	if s == "" || strings.ContainsAny(s, "/?#@ ") || strings.Contains(s[min(len(s), 1):], "*") && !strings.HasPrefix(s, "*.") {
		return originPattern{}, fmt.Errorf("relay: bad origin pattern %q: want host, scheme://host or scheme://*.host", s)
	}
	p.host = s
	return p, nil
}

func (p originPattern) match(u *url.URL) bool {
	if p.any {
		return true
	}
	if p.scheme != "" && p.scheme != strings.ToLower(u.Scheme) {
		return false
	}
	host := strings.ToLower(u.Host)
	if suffix, ok := strings.CutPrefix(p.host, "*."); ok {
		return strings.HasSuffix(host, "."+suffix)
	}
	return host == p.host
}

// originAllowed checks the Origin header. A request without one comes from a
// program, not a page, and passes; tokens protect those.
//
// An Origin is scheme://host[:port] and nothing else; anything more (a
// path, user info) or less ("null", "file://") is refused. With no
// AllowedOrigins, it must be http or https and name the request's Host: a
// page from a file, a sandboxed frame, a browser extension or any other
// scheme is refused even when it names the relay's host. That default does
// not stop DNS rebinding (a hostile name that resolves to the relay makes
// Origin and Host agree); AllowedOrigins does (see SECURITY.md).
func originAllowed(origins []originPattern, r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return false
	}
	if len(origins) == 0 {
		scheme := strings.ToLower(u.Scheme)
		return (scheme == "http" || scheme == "https") && strings.EqualFold(u.Host, r.Host)
	}
	for _, p := range origins {
		if p.match(u) {
			return true
		}
	}
	return false
}
