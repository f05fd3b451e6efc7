package game

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxWordRunes is the longest word or phrase a word list may hold, in
// characters.
const MaxWordRunes = 32

//go:embed words.txt
var defaultWords string

// DefaultWords returns the embedded word list: a few hundred common English
// nouns that can be drawn. Each call returns a new slice.
func DefaultWords() []string {
	w, err := ParseWords(strings.NewReader(defaultWords), "words.txt")
	if err != nil {
		panic("game: embedded word list: " + err.Error()) // a build defect; a test checks it
	}
	return w
}

// LoadWords reads a word list from a file: one word or short phrase a line.
// Surrounding spaces are trimmed and blank lines skipped; duplicates (in
// any case) are kept once. A bad file gives an error wrapping ErrBadWords
// that names the file and the line.
func LoadWords(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadWords, err)
	}
	defer f.Close()
	return ParseWords(f, path)
}

// ParseWords reads a word list from r; name is used in errors. See
// LoadWords.
func ParseWords(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var out []string
	seen := map[string]bool{}
	line := 0
	for sc.Scan() {
		line++
		w := strings.TrimSpace(sc.Text())
		if w == "" {
			continue
		}
		if err := checkWord(w); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %q %s", ErrBadWords, name, line, clip(w), err.Error())
		}
		k := fold(w)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, w)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s:%d: %w", ErrBadWords, name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s: no words (want one word or short phrase a line)", ErrBadWords, name)
	}
	return out, nil
}

// checkWords checks a list given in code (Config.Words).
func checkWords(words []string) error {
	if len(words) == 0 {
		return fmt.Errorf("%w: no words", ErrBadWords)
	}
	for i, w := range words {
		if w != strings.TrimSpace(w) || w == "" {
			return fmt.Errorf("%w: word %d %q: empty or with surrounding spaces", ErrBadWords, i+1, clip(w))
		}
		if err := checkWord(w); err != nil {
			return fmt.Errorf("%w: word %d %q %s", ErrBadWords, i+1, clip(w), err.Error())
		}
	}
	return nil
}

// wordError says what is wrong with one word; the caller adds where.
type wordError string

func (e wordError) Error() string { return string(e) }

// checkWord checks one trimmed, non-empty word.
func checkWord(w string) error {
	if !utf8.ValidString(w) {
		return wordError("is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(w); n > MaxWordRunes {
		return wordError(fmt.Sprintf("has %d characters; the limit is %d", n, MaxWordRunes))
	}
	letters := 0
	for _, r := range w {
		switch {
		case unicode.IsLetter(r):
			letters++
		case r == ' ' || r == '-':
		default:
			return wordError(fmt.Sprintf("has %q: only letters, spaces and hyphens are allowed", r))
		}
	}
	if letters == 0 {
		return wordError("has no letters")
	}
	return nil
}

// clip shortens a bad line for an error message.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	r := []rune(s)
	return string(r[:40]) + "…"
}

// hint is the word with every character but spaces and hyphens as '_', and
// the number of '_'.
func hint(word string) (string, int) {
	var b strings.Builder
	n := 0
	for _, r := range word {
		if r == ' ' || r == '-' {
			b.WriteRune(r)
			continue
		}
		b.WriteByte('_')
		n++
	}
	return b.String(), n
}

// fold maps s to a canonical case: each rune becomes the smallest rune of
// its simple case-folding orbit (unicode.SimpleFold), so fold(a) == fold(b)
// exactly when strings.EqualFold(a, b). It is simple folding: "ß" does not
// match "ss".
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

func foldRune(r rune) rune {
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	return min
}

// isGuess reports whether a chat line is the word: case-insensitive
// (simple Unicode folding) once surrounding spaces are trimmed.
func isGuess(text, word string) bool {
	return strings.EqualFold(strings.TrimSpace(text), word)
}

// givesAway reports whether a chat line contains the word, ignoring case.
func givesAway(text, word string) bool {
	return strings.Contains(fold(text), fold(word))
}
