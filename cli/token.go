package cli

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/spf13/cobra"
)

const tokenHelp = `Mints a room token: a standard JWT that the relay checks at the upgrade.
Pass it as ?token=… (browsers) or "Authorization: Bearer …" (programs;
canvasrelay send --token).

It is signed HS256 with the server's --auth-secret (read here from
--auth-secret or CANVASRELAY_AUTH_SECRET), or, with --key, by a private key
whose public half the server has in --auth-public-keys: RSA (RS256, 2048
bits or more), ECDSA P-256 (ES256) or Ed25519 (EdDSA), in PEM (PKCS #8,
PKCS #1 or SEC 1, unencrypted). --key wins over the secret.

Claims: room (a room, or a prefix ending in *), publish (send images, chat
and game commands), subscribe (receive the room), admin (/api/rooms for the
rooms the pattern covers), sub (the only client id it may use), name (the
display name, over ?name=), iat (now) and exp (now + --ttl). When a token
expires during a session the relay closes the connection with 1008 (30 s
of leeway for clock skew); the client reconnects with a fresh token.`

const tokenExamples = `  canvasrelay token --room demo --publish --subscribe --ttl 24h
  canvasrelay token --room demo --subscribe --ttl 1h            # a viewer
  canvasrelay token --room 'team-*' --publish --ttl 15m         # an uploader
  canvasrelay token --room '*' --admin --ttl 1h                 # reads /api/rooms
  canvasrelay token --room demo --publish --subscribe --sub alice --name 'Alice B.'
  canvasrelay token --key ed25519.pem --kid k1 --room demo --subscribe`

// tokenOptions are the token command's flags.
type tokenOptions struct {
	secret, keyFile, kid, room, sub, name string
	publish, subscribe, admin             bool
	ttl                                   time.Duration
}

func newTokenCmd(stdout, _ io.Writer) *cobra.Command {
	var o tokenOptions
	cmd := &cobra.Command{
		Use:     "token --room ROOM [--publish] [--subscribe] [--admin] [--sub CLIENT] [--name NAME] [--ttl 24h] [--key FILE]",
		Short:   "Mint a room token (a JWT; with --auth-secret or --key)",
		Long:    tokenHelp,
		Example: tokenExamples,
		Args:    noArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&o.secret, "auth-secret", "", "the server's token `secret` (HS256)")
	fs.StringVar(&o.keyFile, "key", "", "sign with this private key `file` (PEM: RSA, ECDSA P-256 or Ed25519) instead of the secret")
	fs.StringVar(&o.kid, "kid", "", "with --key: the key `id` to put in the header, as in the server's JWKS")
	fs.StringVar(&o.room, "room", "", "`room` name, or a prefix pattern ending in *")
	fs.BoolVar(&o.publish, "publish", false, "allow sending images, chat and game commands")
	fs.BoolVar(&o.subscribe, "subscribe", false, "allow receiving the room's frames, chat and presence")
	fs.BoolVar(&o.admin, "admin", false, "allow reading /api/rooms (only the rooms --room covers)")
	fs.StringVar(&o.sub, "sub", "", "bind the token to this `client` id: the connection gets it, and another ?client= is refused")
	fs.StringVar(&o.name, "name", "", "the display `name` (overrides the connection's ?name=)")
	fs.DurationVar(&o.ttl, "ttl", 24*time.Hour, "how long the token is valid")
	cmd.RunE = func(*cobra.Command, []string) error { return o.run(stdout) }
	return cmd
}

func (o *tokenOptions) run(stdout io.Writer) error {
	switch {
	case o.keyFile == "" && o.secret == "":
		return usageError(errors.New("no key: set --auth-secret (or CANVASRELAY_AUTH_SECRET), or --key FILE"))
	case o.keyFile == "" && len(o.secret) < relay.MinAuthSecret:
		return usageError(fmt.Errorf("--auth-secret is too short: the server refuses secrets under %d characters", relay.MinAuthSecret))
	case o.keyFile == "" && o.kid != "":
		return usageError(errors.New("--kid goes with --key"))
	case o.room == "":
		return usageError(errors.New("--room is required"))
	case !o.publish && !o.subscribe && !o.admin:
		return usageError(errors.New("grant at least one of --publish, --subscribe, --admin"))
	case o.ttl <= 0:
		return usageError(errors.New("--ttl must be positive"))
	}
	var key any = []byte(o.secret)
	if o.keyFile != "" {
		k, err := loadPrivateKey(o.keyFile)
		if err != nil {
			return usageError(fmt.Errorf("--key: %w", err))
		}
		key = k
	}
	now := time.Now()
	tok, err := relay.MintTokenKID(key, o.kid, relay.Claims{
		Room: o.room, Publish: o.publish, Subscribe: o.subscribe, Admin: o.admin,
		Subject: o.sub, Name: o.name,
		IssuedAt: now.Unix(), Expires: now.Add(o.ttl).Unix(),
	})
	if err != nil {
		return usageError(err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// loadPrivateKey reads the first private key of a PEM file.
func loadPrivateKey(file string) (any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, fmt.Errorf("%s: no PEM private key (want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)", file)
		}
		switch b.Type {
		case "PRIVATE KEY":
			return x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			return x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%s: encrypted keys are not supported; decrypt it first (openssl pkey)", file)
		}
	}
}
