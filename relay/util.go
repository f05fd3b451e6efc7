package relay

import (
	"crypto/rand"
	"encoding/base32"
	"sort"
	"strings"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID returns n random bytes as lower-case base32.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return idEncoding.EncodeToString(b)
}

func sortSlice[T any](s []T, less func(a, b T) bool) {
	sort.Slice(s, func(i, j int) bool { return less(s[i], s[j]) })
}

// ValidRoom reports whether name is 1 to 64 characters of A-Z a-z 0-9 . _ -
// (wire.ValidRoom).
func ValidRoom(name string) bool { return wire.ValidRoom(name) }

// validToken reports whether s is 1 to max characters of the room and
// client id alphabet (wire.ValidName).
func validToken(s string, max int) bool { return wire.ValidName(s, max) }

// CleanText removes from s what a terminal or a bidi renderer obeys rather
// than shows: C0 controls (but newline and tab when multiline; the line and
// paragraph separators U+2028 and U+2029 go too unless multiline), DEL, C1
// controls, and the bidi embeddings, overrides and isolates (U+202A to
// U+202E, U+2066 to U+2069). Invalid UTF-8 becomes U+FFFD. The relay applies
// it to chat text (multiline) and display names (not), on every node, so
// that no client, `jq -r` in a terminal included, is sent escape sequences
// or reordered text.
func CleanText(s string, multiline bool) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == 0x2028 || r == 0x2029:
			if multiline {
				return r
			}
			return -1
		case r < 0x20, r >= 0x7f && r <= 0x9f:
			return -1
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return -1
		}
		return r
	}, s)
}

// cleanName trims a display name to at most 64 runes of printable text:
// see CleanText.
func cleanName(s string) string {
	s = strings.TrimSpace(CleanText(s, false))
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64])
	}
	return s
}
