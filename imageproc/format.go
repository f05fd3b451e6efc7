package imageproc

import (
	"bytes"
	"strings"
)

// Format is an image format word of the wire contract.
type Format string

// The formats the relay understands.
const (
	PNG  Format = "png"
	JPEG Format = "jpeg"
	GIF  Format = "gif"
	WebP Format = "webp"
)

// AllFormats returns every supported format, in contract order. The slice is
// new on each call, so callers may keep or modify it.
func AllFormats() []Format { return []Format{PNG, JPEG, GIF, WebP} }

// Valid reports whether f is one of the four supported formats.
func (f Format) Valid() bool {
	switch f {
	case PNG, JPEG, GIF, WebP:
		return true
	}
	return false
}

func (f Format) String() string { return string(f) }

// ParseFormats parses a comma-separated list such as "png,jpeg,gif,webp"
// (the --formats flag). Case and spaces around items are ignored, "jpg" is
// accepted for "jpeg", and duplicates are removed keeping the first. An empty
// list or an unknown word is an error wrapping ErrUnsupported.
func ParseFormats(csv string) ([]Format, error) {
	var out []Format
	seen := make(map[Format]bool, 4)
	for _, item := range strings.Split(csv, ",") {
		w := strings.ToLower(strings.TrimSpace(item))
		if w == "" {
			continue
		}
		if w == "jpg" {
			w = "jpeg"
		}
		f := Format(w)
		if !f.Valid() {
			return nil, newErr(ErrUnsupported, nil, "unknown format %q (want png, jpeg, gif or webp)", item)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, newErr(ErrUnsupported, nil, "empty format list")
	}
	return out, nil
}

var (
	magicPNG   = []byte("\x89PNG\r\n\x1a\n")
	magicJPEG  = []byte{0xFF, 0xD8, 0xFF}
	magicGIF87 = []byte("GIF87a")
	magicGIF89 = []byte("GIF89a")
)

// Sniff identifies the format from the magic bytes alone:
//
//	PNG   89 50 4E 47 0D 0A 1A 0A
//	JPEG  FF D8 FF
//	GIF   "GIF87a" or "GIF89a"
//	WebP  "RIFF" <4-byte length> "WEBP"
//
// It reads no further than the first 12 bytes and never decodes.
func Sniff(b []byte) (Format, bool) {
	switch {
	case bytes.HasPrefix(b, magicPNG):
		return PNG, true
	case bytes.HasPrefix(b, magicJPEG):
		return JPEG, true
	case bytes.HasPrefix(b, magicGIF87), bytes.HasPrefix(b, magicGIF89):
		return GIF, true
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP, true
	}
	return "", false
}

// sniffOther names a few well-known formats that the relay does not accept,
// for a clearer error message. It returns "" when the bytes are unknown.
func sniffOther(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("BM")):
		return "bmp"
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return "tiff"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return "isobmff (avif/heic)"
	case bytes.HasPrefix(b, []byte("\x00\x00\x01\x00")):
		return "ico"
	case bytes.HasPrefix(b, []byte("<svg")), bytes.HasPrefix(b, []byte("<?xml")):
		return "svg"
	}
	return ""
}

func formatList(fs []Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}
