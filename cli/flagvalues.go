package cli

// Flag values that the standard pflag types do not cover.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/canvasrelay/canvasrelay/imageproc"
)

// formatList is formats as the --formats flag writes them: png,jpeg.
func formatList(formats []imageproc.Format) string {
	words := make([]string, len(formats))
	for i, f := range formats {
		words[i] = f.String()
	}
	return strings.Join(words, ",")
}

// byteSize is a flag holding a size in bytes: 8388608, 8MiB, 512KiB, 2MB.
type byteSize int64

func (b *byteSize) Type() string   { return "size" }
func (b *byteSize) String() string { return formatSize(int64(*b)) }

// formatSize writes n in the largest binary unit that divides it: 8MiB.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.m == 0 {
			return strconv.FormatInt(n/u.m, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}} {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad size %q: want a positive number of bytes, optionally with KiB, MiB or GiB", s)
	}
	return n * mult, nil
}

// pixelCount is a flag holding width × height: 16777216 or 4096x4096.
type pixelCount int64

func (p *pixelCount) Type() string   { return "pixels" }
func (p *pixelCount) String() string { return strconv.FormatInt(int64(*p), 10) }
func (p *pixelCount) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	if w, h, ok := strings.Cut(t, "x"); ok {
		wi, err1 := strconv.ParseInt(w, 10, 64)
		hi, err2 := strconv.ParseInt(h, 10, 64)
		if err1 != nil || err2 != nil || wi <= 0 || hi <= 0 {
			return fmt.Errorf("bad pixel count %q: want N or WxH", s)
		}
		*p = pixelCount(wi * hi)
		return nil
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("bad pixel count %q: want N or WxH", s)
	}
	*p = pixelCount(n)
	return nil
}

// stringList is a repeatable flag that also splits on commas.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Type() string   { return "list" }
func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
