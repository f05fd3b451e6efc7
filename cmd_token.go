package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
)

func init() { subcommands["token"] = runToken }

const tokenHelp = `Usage: canvasrelay token --room ROOM [--publish] [--subscribe] [--admin]
                         [--sub CLIENT] [--name NAME] [--ttl 24h] [--key FILE]

Mints a room token: a standard JWT that the relay checks at the upgrade.
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
of leeway for clock skew); the client reconnects with a fresh token.

Examples:
  canvasrelay token --room demo --publish --subscribe --ttl 24h
  canvasrelay token --room demo --subscribe --ttl 1h            # a viewer
  canvasrelay token --room 'team-*' --publish --ttl 15m         # an uploader
  canvasrelay token --room '*' --admin --ttl 1h                 # reads /api/rooms
  canvasrelay token --room demo --publish --subscribe --sub alice --name 'Alice B.'
  canvasrelay token --key ed25519.pem --kid k1 --room demo --subscribe
`

func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		secret, keyFile, kid, room, sub, name string
		publish, subscribe, admin             bool
		ttl                                   time.Duration
	)
	fs.StringVar(&secret, "auth-secret", "", "the server's token `secret` (HS256)")
	fs.StringVar(&keyFile, "key", "", "sign with this private key `file` (PEM: RSA, ECDSA P-256 or Ed25519) instead of the secret")
	fs.StringVar(&kid, "kid", "", "with --key: the key `id` to put in the header, as in the server's JWKS")
	fs.StringVar(&room, "room", "", "`room` name, or a prefix pattern ending in *")
	fs.BoolVar(&publish, "publish", false, "allow sending images, chat and game commands")
	fs.BoolVar(&subscribe, "subscribe", false, "allow receiving the room's frames, chat and presence")
	fs.BoolVar(&admin, "admin", false, "allow reading /api/rooms (only the rooms --room covers)")
	fs.StringVar(&sub, "sub", "", "bind the token to this `client` id: the connection gets it, and another ?client= is refused")
	fs.StringVar(&name, "name", "", "the display `name` (overrides the connection's ?name=)")
	fs.DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid")
	fs.Usage = flagUsage(fs, tokenHelp)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fmt.Errorf("token takes no arguments, got %q", fs.Args()))
	case keyFile == "" && secret == "":
		return usageError(errors.New("no key: set --auth-secret (or CANVASRELAY_AUTH_SECRET), or --key FILE"))
	case keyFile == "" && len(secret) < 16:
		return usageError(errors.New("--auth-secret is too short: the server refuses secrets under 16 characters"))
	case keyFile == "" && kid != "":
		return usageError(errors.New("--kid goes with --key"))
	case room == "":
		return usageError(errors.New("--room is required"))
	case !publish && !subscribe && !admin:
		return usageError(errors.New("grant at least one of --publish, --subscribe, --admin"))
	case ttl <= 0:
		return usageError(errors.New("--ttl must be positive"))
	}
	var key any = []byte(secret)
	if keyFile != "" {
		k, err := loadPrivateKey(keyFile)
		if err != nil {
			return usageError(fmt.Errorf("--key: %w", err))
		}
		key = k
	}
	now := time.Now()
	tok, err := relay.MintTokenKID(key, kid, relay.Claims{
		Room: room, Publish: publish, Subscribe: subscribe, Admin: admin,
		Subject: sub, Name: name,
		IssuedAt: now.Unix(), Expires: now.Add(ttl).Unix(),
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
