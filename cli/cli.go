// Package cli is the canvasrelay command line: the relay server (serve,
// the default), its clients for scripts (send, watch), token minting, an
// embedded NATS server for clusters (nats) and the benchmarks (bench).
//
// Commands are built from a static table (commands) with spf13/cobra, so
// flags go anywhere on the line, --help is generated, and "canvasrelay
// completion bash|zsh|fish|powershell" prints shell completion. Every flag
// also reads an environment variable (flags.go). main calls Run; tests call
// it too, or start the binary.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Version is set by the linker in release builds:
// go build -ldflags "-X github.com/canvasrelay/canvasrelay/cli.Version=v1.2.3".
var Version = "dev"

// commands is the static table of subcommands, in the order --help lists them.
var commands = []func(stdout, stderr io.Writer) *cobra.Command{
	newServeCmd,
	newSendCmd,
	newWatchCmd,
	newTokenCmd,
	newNatsCmd,
	newBenchCmd,
	newVersionCmd,
}

// Run is the whole program; main only adds signals and the exit code. With
// no command, or flags first, Run runs serve: "canvasrelay --addr :9000".
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root, started := newRoot(stdout, stderr)
	args = doubleDash(args, longFlagNames(root))
	if c, _, err := root.Find(args); err == nil && c == root && !slices.Contains(args, "--help") && !slices.Contains(args, "-h") {
		args = append([]string{"serve"}, args...) // no command named: serve
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		if *started {
			return err // the command failed: exit 1
		}
		// cobra refused the line before any command ran: an unknown
		// command, a missing flag value.
		ee = &exitError{code: 2, usage: true, err: err}
		err = ee
	}
	if ee.usage && !strings.Contains(err.Error(), "--help") {
		path := "canvasrelay"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		return &exitError{code: 2, usage: true, err: fmt.Errorf("%w (see %s --help)", err, path)}
	}
	return err
}

// newRoot builds the command tree. *started turns true once the command
// line has parsed and a command is about to run.
func newRoot(stdout, stderr io.Writer) (*cobra.Command, *bool) {
	started := new(bool)
	root := &cobra.Command{
		Use:   "canvasrelay",
		Short: "Relay canvas images over WebSocket",
		Long: `canvasrelay relays canvas images over WebSocket: a server with rooms, a
whiteboard, a viewer and a draw-and-guess game, and clients for scripts.

With no command, or flags first, canvasrelay runs serve.
Every flag also reads an environment variable: --max-bytes is CANVASRELAY_MAX_BYTES.`,
		SilenceErrors: true, // main prints the error once
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			*started = true
			return applyEnv(cmd.Flags())
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(fmt.Errorf("%s: %w", c.Name(), err))
	})
	for _, mk := range commands {
		root.AddCommand(mk(stdout, stderr))
	}
	showEnvTwins(root)
	return root, started
}

func newVersionCmd(stdout, _ io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(stdout, "canvasrelay", Version)
		},
	}
}

// noArgs refuses positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(fmt.Errorf("%s takes no arguments, got %q", cmd.Name(), args))
	}
	return nil
}
