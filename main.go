// Command canvasrelay relays canvas images over WebSocket: a server (serve,
// the default) and clients for scripts (send, watch).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "canvasrelay:", err)
	}
	os.Exit(exitCode(err))
}

const usage = `canvasrelay relays canvas images over WebSocket.

Usage:
  canvasrelay [serve] [flags]        run the relay server (the default)
  canvasrelay send URL FILE|DIR...   upload images, one receipt per file
  canvasrelay watch URL              record a room's frames and events
  canvasrelay token --room ROOM ...  mint a room token (a JWT; --auth-secret or --key)
  canvasrelay nats                   run a NATS server for a relay cluster
  canvasrelay bench SCENARIO         measure the relay against a raw gws floor
  canvasrelay version                print the version

Run "canvasrelay COMMAND --help" for a command's flags.
Every flag also reads an environment variable: --max-bytes is CANVASRELAY_MAX_BYTES.
`

// version is set by the linker in release builds.
var version = "dev"

// run is the whole program; main only adds signals and the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "canvasrelay", version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		if sub, ok := subcommands[cmd]; ok {
			return sub(ctx, args, stdout, stderr)
		}
		fmt.Fprint(stderr, usage)
		return usageError(fmt.Errorf("unknown command %q", cmd))
	}
}

// subcommands holds the client commands, registered by their files.
var subcommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{}
