package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

const tokenHelp = `Usage: canvasrelay token --room ROOM [--publish] [--subscribe] [--ttl 24h]

Mints a room token signed with the server's --auth-secret (read here from
--auth-secret or CANVASRELAY_AUTH_SECRET). Pass it to the relay as
?token=… (browsers) or "Authorization: Bearer …" (canvasrelay send --token).

A token names a room (or a prefix pattern ending in *), its rights
(--publish: send images and chat; --subscribe: receive the room) and an
expiry. When it expires during a session the relay closes the connection
with 1008; the client reconnects with a fresh token.

Examples:
  canvasrelay token --room demo --publish --subscribe --ttl 24h
  canvasrelay token --room demo --subscribe --ttl 1h          # a viewer
  canvasrelay token --room 'team-*' --publish --ttl 15m       # an uploader
  canvasrelay token --room '*' --admin --ttl 1h               # reads /api/rooms
`

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		secret, room              string
		publish, subscribe, admin bool
		ttl                       time.Duration
	)
	fs.StringVar(&secret, "auth-secret", "", "the server's token `secret`")
	fs.StringVar(&room, "room", "", "`room` name, or a prefix pattern ending in *")
	fs.BoolVar(&publish, "publish", false, "allow sending images and chat")
	fs.BoolVar(&subscribe, "subscribe", false, "allow receiving the room's frames, chat and presence")
	fs.BoolVar(&admin, "admin", false, "allow reading /api/rooms")
	fs.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	fs.Usage = flagUsage(fs, tokenHelp)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case secret == "":
		return usageError(errors.New("no secret: set --auth-secret or CANVASRELAY_AUTH_SECRET"))
	case room == "":
		return usageError(errors.New("--room is required"))
	case !publish && !subscribe && !admin:
		return usageError(errors.New("grant at least one of --publish, --subscribe, --admin"))
	case ttl <= 0:
		return usageError(errors.New("--ttl must be positive"))
	}
	tok, err := relay.MintToken([]byte(secret), relay.Claims{
		Room: room, Publish: publish, Subscribe: subscribe, Admin: admin,
		Expires: time.Now().Add(ttl).Unix(),
	})
	if err != nil {
		return usageError(err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
