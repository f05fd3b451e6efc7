// Package cli is the canvasrelay command line: the relay server (serve,
// the default), its clients for scripts (send, watch), token minting, an
// embedded NATS server for clusters (nats) and the benchmarks (bench).
// main calls Run; tests call it too, or start the binary.
package cli

import (
	"context"
	"fmt"
	"io"
)

const usage = `canvasrelay relays canvas images over WebSocket.

Usage:
  canvasrelay [serve] [flags]        run the relay server (the default)
  canvasrelay send URL FILE|DIR...   upload images, one receipt per file
  canvasrelay watch URL              record a room's frames and events
  canvasrelay token --room ROOM ...  mint a room token (with --auth-secret)
  canvasrelay nats                   run a NATS server for a relay cluster
  canvasrelay bench SCENARIO         measure the relay against a raw gws floor
  canvasrelay version                print the version

Run "canvasrelay COMMAND --help" for a command's flags.
Every flag also reads an environment variable: --max-bytes is CANVASRELAY_MAX_BYTES.
`

// Version is set by the linker in release builds.
var Version = "dev"

// command runs one subcommand with its arguments.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands is the static table of subcommands.
var commands = map[string]command{
	"serve": runServe,
	"send":  runSend,
	"watch": runWatch,
	"token": runToken,
	"nats":  runNats,
	"bench": runBench,
}

// Run is the whole program; main only adds signals and the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "canvasrelay", Version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if sub, ok := commands[cmd]; ok {
		return sub(ctx, args, stdout, stderr)
	}
	fmt.Fprint(stderr, usage)
	return usageError(fmt.Errorf("unknown command %q", cmd))
}
