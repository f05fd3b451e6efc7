package natsbroker

// Credentials for the embedded NATS server. A NATS server that listens
// beyond loopback must not accept anonymous clients: anyone who reaches
// it could read every room (frames, private chat, the game's word) with
// SUB >, and write into them. RunEmbedded therefore refuses a non-loopback
// Host without a CredsFile.
//
// The credentials are a standard NATS creds file (a user JWT and its NKey
// seed), so that relay nodes (--nats-creds) and the nats CLI (--creds) use
// them as they are. The embedded server runs in operator mode with an
// operator made up at each start: it trusts the account that signed the
// user in the file (whose key is in the user JWT), with JetStream on. So
// the file alone is enough to restart the server and keep every copy of it
// valid; the account's seed is not kept anywhere.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// ErrOpenNATS means an embedded NATS server would listen beyond loopback
// with no credentials.
var ErrOpenNATS = errors.New("natsbroker: an embedded NATS server beyond loopback needs credentials")

// IsLoopback reports whether host (an IP or a name, no port) only listens
// on this machine: localhost or a loopback IP. "" and 0.0.0.0 listen on
// every interface, so they are not.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// WriteCredsFile makes a new account and a user of it, and writes the
// user's credentials to path with mode 0600. It fails if path exists.
func WriteCredsFile(path string) error {
	akp, err := nkeys.CreateAccount()
	if err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	apub, _ := akp.PublicKey()
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "canvasrelay"
	uc.IssuerAccount = apub
	ujwt, err := uc.Encode(akp)
	if err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	if _, err := f.Write(creds); err != nil {
		_ = f.Close()
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	return nil
}

// trustCreds puts opts in operator mode, trusting the account that signed
// the user in credsFile. Anonymous clients are refused.
func trustCreds(opts *server.Options, credsFile string) error {
	b, err := os.ReadFile(credsFile)
	if err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	ujwt, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return fmt.Errorf("natsbroker: creds %s: %w", credsFile, err)
	}
	uc, err := jwt.DecodeUserClaims(ujwt)
	if err != nil {
		return fmt.Errorf("natsbroker: creds %s: not a user JWT: %w", credsFile, err)
	}
	account := uc.Issuer
	if uc.IssuerAccount != "" {
		account = uc.IssuerAccount // signed by a signing key of the account
	}
	if !nkeys.IsValidPublicAccountKey(account) {
		return fmt.Errorf("natsbroker: creds %s: issuer %q is not an account", credsFile, account)
	}
	okp, err := nkeys.CreateOperator()
	if err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "canvasrelay-embedded"
	sys, err := nkeys.CreateAccount()
	if err != nil {
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	syspub, _ := sys.PublicKey()
	oc.SystemAccount = syspub
	if _, err := oc.Encode(okp); err != nil { // sets the issuer, checks the claims
		return fmt.Errorf("natsbroker: creds: %w", err)
	}
	resolver := &server.MemAccResolver{}
	for _, a := range []struct {
		pub, name string
		js        bool
	}{{account, "canvasrelay", true}, {syspub, "SYS", false}} {
		ac := jwt.NewAccountClaims(a.pub)
		ac.Name = a.name
		if a.js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1, MaxAckPending: -1, MemoryMaxStreamBytes: -1, DiskMaxStreamBytes: -1}
		}
		ajwt, err := ac.Encode(okp)
		if err != nil {
			return fmt.Errorf("natsbroker: creds: %w", err)
		}
		if err := resolver.Store(a.pub, ajwt); err != nil {
			return fmt.Errorf("natsbroker: creds: %w", err)
		}
	}
	opts.TrustedOperators = []*jwt.OperatorClaims{oc}
	opts.AccountResolver = resolver
	opts.SystemAccount = syspub
	return nil
}
