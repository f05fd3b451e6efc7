package game

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultWords(t *testing.T) {
	w := DefaultWords()
	if len(w) < 200 {
		t.Fatalf("default words: got %d, want a few hundred", len(w))
	}
	if err := checkWords(w); err != nil {
		t.Fatalf("default words: %v", err)
	}
}

func TestParseWords(t *testing.T) {
	long := strings.Repeat("a", MaxWordRunes+1)
	tests := []struct {
		name    string
		in      string
		want    []string
		errLine string // "" = no error; else a part of the message
	}{
		{"plain", "cat\ndog\n", []string{"cat", "dog"}, ""},
		{"trims and skips blanks, CRLF", "  cat \r\n\r\n\tice cream\r\n", []string{"cat", "ice cream"}, ""},
		{"phrase with hyphen", "yo-yo\nfire truck", []string{"yo-yo", "fire truck"}, ""},
		{"unicode letters", "café\nÉclair", []string{"café", "Éclair"}, ""},
		{"duplicates in any case kept once", "Cat\ncat\nCAT\ndog", []string{"Cat", "dog"}, ""},
		{"exactly 32 characters", strings.Repeat("é", 32), []string{strings.Repeat("é", 32)}, ""},
		{"empty file", "", nil, "words.txt: no words"},
		{"blank lines only", "\n  \n\t\n", nil, "words.txt: no words"},
		{"line too long", "cat\n\n" + long + "\n", nil, "words.txt:3:"},
		{"digit", "cat\nr2d2\n", nil, "words.txt:2:"},
		{"punctuation", "cat\ndog\nhot dog!\n", nil, "words.txt:3:"},
		{"comment", "# words\ncat\n", nil, "words.txt:1:"},
		{"hyphens only", "cat\n- -\n", nil, "words.txt:2:"},
		{"invalid UTF-8", "cat\n\xff\xfe\n", nil, "words.txt:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWords(strings.NewReader(tt.in), "words.txt")
			if tt.errLine != "" {
				if err == nil {
					t.Fatalf("got words %q, want an error containing %q", got, tt.errLine)
				}
				if !errors.Is(err, ErrBadWords) || !strings.Contains(err.Error(), tt.errLine) {
					t.Fatalf("got error %q, want ErrBadWords naming %q", err, tt.errLine)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadWords(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(good, []byte("kite\nrobot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("kite\nrobot 2000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w, err := LoadWords(good); err != nil || len(w) != 2 {
		t.Fatalf("good file: got %q, %v; want 2 words", w, err)
	}
	_, err := LoadWords(bad)
	if !errors.Is(err, ErrBadWords) || !strings.Contains(err.Error(), bad+":2:") || !strings.Contains(err.Error(), "'2'") {
		t.Fatalf("bad file: got %v, want ErrBadWords naming %s:2 and the character", err, bad)
	}
	if _, err := LoadWords(filepath.Join(dir, "missing.txt")); !errors.Is(err, ErrBadWords) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: got %v, want ErrBadWords wrapping not-exist", err)
	}
}

func TestHint(t *testing.T) {
	tests := []struct {
		word, hint string
		n          int
	}{
		{"cat", "___", 3},
		{"ice cream", "___ _____", 8},
		{"yo-yo", "__-__", 4},
		{"café", "____", 4},
		{"jack-in-the box", "____-__-___ ___", 12},
	}
	for _, tt := range tests {
		h, n := hint(tt.word)
		if h != tt.hint || n != tt.n {
			t.Errorf("hint(%q): got %q, %d; want %q, %d", tt.word, h, n, tt.hint, tt.n)
		}
	}
}

func TestMatching(t *testing.T) {
	tests := []struct {
		text, word    string
		guess, inside bool
	}{
		{"giraffe", "giraffe", true, true},
		{"  GiRaFFe \t", "giraffe", true, true},
		{"giraffes", "giraffe", false, true},
		{"a giraffe!", "giraffe", false, true},
		{"gir affe", "giraffe", false, false},
		{"ICE CREAM", "ice cream", true, true},
		{"icecream", "ice cream", false, false},
		{"CAFÉ", "café", true, true},
		{"\u212Aite", "kite", true, true},   // Kelvin sign folds to k
		{"straße", "strasse", false, false}, // simple folding only
		{"Σ", "σ", true, true},
		{"ς", "σ", true, true}, // final sigma is in the same fold orbit
	}
	for _, tt := range tests {
		if got := isGuess(tt.text, tt.word); got != tt.guess {
			t.Errorf("isGuess(%q, %q): got %v, want %v", tt.text, tt.word, got, tt.guess)
		}
		if got := givesAway(tt.text, tt.word); got != tt.inside {
			t.Errorf("givesAway(%q, %q): got %v, want %v", tt.text, tt.word, got, tt.inside)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero value", Config{}, true},
		{"bad word", Config{Words: []string{"cat", "c4t"}}, false},
		{"empty words", Config{Words: []string{}}, false},
		{"spaced word", Config{Words: []string{" cat"}}, false},
		{"pause too long", Config{Pause: MaxPause + 1}, false},
		{"pause at the limit", Config{Pause: MaxPause}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want it to wrap ErrConfig", err)
			}
		})
	}
}
