// Command canvasrelay relays canvas images over WebSocket. Its commands live
// in package cli:
//
//	canvasrelay [serve]   the relay server (the default)
//	canvasrelay send      upload images to a room, one receipt per file
//	canvasrelay watch     record a room's frames and events
//	canvasrelay token     mint a room token
//	canvasrelay nats      run a NATS server for a relay cluster
//	canvasrelay bench     measure the relay against a raw gws floor
//	canvasrelay version   print the version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/canvasrelay/canvasrelay/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "canvasrelay:", err)
	}
	os.Exit(cli.ExitCode(err))
}
