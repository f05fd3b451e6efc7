package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/spf13/cobra"
)

const tokenHelp = `Mints a room token signed with the server's --auth-secret (read here from
--auth-secret or CANVASRELAY_AUTH_SECRET). Pass it to the relay as
?token=… (browsers) or "Authorization: Bearer …" (canvasrelay send --token).

A token names a room (or a prefix pattern ending in *), its rights
(--publish: send images and chat; --subscribe: receive the room) and an
expiry. When it expires during a session the relay closes the connection
with 1008; the client reconnects with a fresh token.`

const tokenExamples = `  canvasrelay token --room demo --publish --subscribe --ttl 24h
  canvasrelay token --room demo --subscribe --ttl 1h          # a viewer
  canvasrelay token --room 'team-*' --publish --ttl 15m       # an uploader
  canvasrelay token --room '*' --admin --ttl 1h               # reads /api/rooms`

func newTokenCmd(stdout, _ io.Writer) *cobra.Command {
	var (
		secret, room              string
		publish, subscribe, admin bool
		ttl                       time.Duration
	)
	cmd := &cobra.Command{
		Use:     "token --room ROOM [--publish] [--subscribe] [--admin] [--ttl 24h]",
		Short:   "Mint a room token (with --auth-secret)",
		Long:    tokenHelp,
		Example: tokenExamples,
		Args:    noArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&secret, "auth-secret", "", "the server's token `secret`")
	fs.StringVar(&room, "room", "", "`room` name, or a prefix pattern ending in *")
	fs.BoolVar(&publish, "publish", false, "allow sending images and chat")
	fs.BoolVar(&subscribe, "subscribe", false, "allow receiving the room's frames, chat and presence")
	fs.BoolVar(&admin, "admin", false, "allow reading /api/rooms")
	fs.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	cmd.RunE = func(*cobra.Command, []string) error {
		return runToken(secret, room, publish, subscribe, admin, ttl, stdout)
	}
	return cmd
}

func runToken(secret, room string, publish, subscribe, admin bool, ttl time.Duration, stdout io.Writer) error {
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
