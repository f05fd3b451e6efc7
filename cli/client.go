package cli

// Helpers shared by the client commands (send, watch).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/canvasrelay/canvasrelay/relay/client"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// connOptions are the flags every client command takes.
type connOptions struct {
	name     string
	clientID string
	token    string
	timeout  time.Duration
	verbose  bool
}

func (o *connOptions) register(fs *pflag.FlagSet, timeoutUse string) {
	fs.StringVar(&o.name, "name", "", "display `name` shown to the room (default: none)")
	fs.StringVar(&o.clientID, "client", "", "stable client `id`; reuse it to keep this client's layer across runs (default: the server makes one up)")
	fs.StringVar(&o.token, "token", "", "room `token`, sent as \"Authorization: Bearer TOKEN\"")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, timeoutUse)
	fs.BoolVar(&o.verbose, "verbose", false, "log connection details to stderr")
}

// config builds the client configuration for url.
func (o *connOptions) config(url string, stderr io.Writer) client.Config {
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	return client.Config{
		URL:              url,
		Name:             o.name,
		ClientID:         o.clientID,
		Token:            o.token,
		HandshakeTimeout: o.timeout,
		Logger:           slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
}

// checkURL validates the room URL argument (a usage error when bad).
func checkURL(raw string) error {
	if _, err := client.NormalizeURL(raw); err != nil {
		return usageError(err)
	}
	return nil
}

// connectError reports a failed connection: exit code 2.
func connectError(url string, err error) error {
	return &exitError{code: 2, err: fmt.Errorf("connect to %s: %w", url, err)}
}

// dialClient connects, turning failures into exit code 2.
func dialClient(ctx context.Context, cfg client.Config) (*client.Client, error) {
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("connect to %s: interrupted", cfg.URL)}
		}
		return nil, connectError(cfg.URL, err)
	}
	return c, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so a reader sees the old file or the new one, never
// a part of one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	return nil
}

// safeName makes a client id (chosen by any client) safe as a file name
// part: only A-Z a-z 0-9 . _ - are kept, no leading dot, at most
// wire.MaxIDLen (64) bytes.
func safeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < wire.MaxIDLen; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			b.WriteByte(c)
		case c == '.' && b.Len() > 0:
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// fileExt is the file extension for a contract format word.
func fileExt(format string) string {
	switch format {
	case wire.FormatPNG, wire.FormatGIF, wire.FormatWebP:
		return format
	case wire.FormatJPEG:
		return "jpg"
	}
	return "bin"
}

// passes is the --loop flag: how many times to go over the files. "--loop"
// alone means until interrupted (0); "--loop=N" means N passes. Register it
// with loopFlag, which lets --loop stand alone.
type passes int

func (p *passes) String() string {
	if p == nil || *p == 1 {
		return ""
	}
	if *p == 0 {
		return "true"
	}
	return strconv.Itoa(int(*p))
}

func (p *passes) Set(v string) error {
	switch strings.ToLower(v) {
	case "true", "forever":
		*p = 0
		return nil
	case "false", "":
		*p = 1
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("want true (until interrupted) or a number of passes ≥ 1")
	}
	*p = passes(n)
	return nil
}

func (p *passes) Type() string { return "N" }

// loopFlag adds --loop to fs: alone it means until interrupted.
func loopFlag(fs *pflag.FlagSet, p *passes, usage string) {
	fs.Var(p, "loop", usage)
	fs.Lookup("loop").NoOptDefVal = "true"
}

// humanBytes formats n bytes for people.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// sleepCtx sleeps for d or until ctx ends; it reports whether it slept fully.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
