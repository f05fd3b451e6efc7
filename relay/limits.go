package relay

import (
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// limiter returns a token bucket for rate r per second (negative:
// unlimited) with the given burst.
func limiter(r float64, burst int) *rate.Limiter {
	if r < 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(r), burst)
}

// connLimits are one connection's rate limits. Owned by the reader
// goroutine.
type connLimits struct {
	frames, bytes, chat *rate.Limiter
	violations          int
	windowStart         time.Time
}

func newConnLimits(cfg Config) connLimits {
	byteBurst := cfg.MaxBytes
	if cfg.ByteRate > float64(byteBurst) {
		byteBurst = int(math.Min(cfg.ByteRate, math.MaxInt32))
	}
	return connLimits{
		frames: limiter(cfg.FrameRate, cfg.FrameBurst),
		bytes:  limiter(cfg.ByteRate, byteBurst),
		chat:   limiter(cfg.ChatRate, 10),
	}
}

// allowFrame spends the budget of one image of n bytes.
func (l *connLimits) allowFrame(now time.Time, n int) bool {
	if !l.frames.AllowN(now, 1) {
		return false
	}
	if !l.bytes.AllowN(now, n) {
		return false
	}
	return true
}

// violation counts a rate_limited, bad_request or (for a token without the
// right) forbidden answer and reports whether the connection has now gone
// over Config.MaxViolations within 10 s.
func (l *connLimits) violation(now time.Time, max int) bool {
	if now.Sub(l.windowStart) > 10*time.Second {
		l.windowStart, l.violations = now, 0
	}
	l.violations++
	return l.violations > max
}

// rateLimited answers a frame or text frame refused by a rate limit, and
// closes a connection that keeps it up.
func (c *conn) rateLimited(seq uint64, what string) {
	c.srv.metrics.rateLimited.WithLabelValues(what).Inc()
	c.violated(CodeRateLimited, "slow down: over the "+what+" rate limit", seq)
}

// badRequest answers a text frame that is not a valid command (or chat
// line). It counts as a violation, like a rate_limited answer.
func (c *conn) badRequest(msg string) { c.violated(CodeBadRequest, msg, 0) }

// violated answers a violation with code, or, past Config.MaxViolations
// within 10 s, closes the connection with 1008 instead.
func (c *conn) violated(code, msg string, seq uint64) {
	c.srv.metrics.violations.WithLabelValues(code).Inc()
	if c.limits.violation(time.Now(), c.srv.cfg.MaxViolations) {
		c.closeAfterFlush(ClosePolicy, reasonPolicy, "rate limit exceeded or bad requests sent again and again")
		return
	}
	c.reply(errorEvent(code, msg, seq))
}

// maxTextBytes is the longest text frame parsed: a chat command whose text
// is MaxChatBytes, each byte escaped as \u00XX, with room to spare. Any
// longer text frame is refused unread.
func maxTextBytes(cfg Config) int { return 6*cfg.MaxChatBytes + 1024 }

// clientIP is the address a connection counts against for MaxConnsPerIP:
// with trustProxy (Config.TrustProxy), the last X-Forwarded-For entry.
func clientIP(trustProxy bool, r *http.Request) string {
	if trustProxy {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := strings.TrimSpace(parts[len(parts)-1]); net.ParseIP(ip) != nil {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
