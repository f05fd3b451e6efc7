package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/canvasrelay/canvasrelay/relay"
	natsbroker "github.com/canvasrelay/canvasrelay/relay/broker/nats"
	"github.com/spf13/cobra"
)

const natsHelp = `Runs a NATS server with JetStream in this process, sized for the relay's
frames, so that a few relay nodes can share rooms with no separate install:
start relay nodes with --broker nats://HOST:PORT. For production, an external
NATS cluster does the same (see docs/cluster.md).

On loopback (the default) it accepts any client of this machine. On any
other address it requires credentials and refuses anonymous clients: give
--nats-creds FILE, or let it generate STORE/canvasrelay.creds (mode 0600,
kept across restarts). Copy that file to each relay node and start it with
--broker nats://HOST:PORT --nats-creds FILE.`

const natsExamples = `  canvasrelay nats                                   # nats://127.0.0.1:4222, store in ./canvasrelay-nats
  canvasrelay nats --nats-addr 10.0.0.5:4222 --nats-store /var/lib/canvasrelay-nats
                                                     # credentials in /var/lib/canvasrelay-nats/canvasrelay.creds`

type natsOptions struct {
	addr       string
	store      string
	creds      string
	maxPayload byteSize
	logLevel   string
	logFormat  string
}

func newNatsCmd(stdout, stderr io.Writer) *cobra.Command {
	var o natsOptions
	cmd := &cobra.Command{
		Use:     "nats [flags]",
		Short:   "Run a NATS server for a relay cluster",
		Long:    natsHelp,
		Example: natsExamples,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNats(cmd.Context(), &o, stdout, stderr)
		},
	}
	fs := cmd.Flags()
	payload, _ := natsbroker.SuggestedPayload(relay.DefaultConfig().MaxBytes) // 16 MiB for 8 MiB images
	o.maxPayload = byteSize(payload)
	fs.StringVar(&o.addr, "nats-addr", "127.0.0.1:4222", "`host:port` to listen on for relay nodes (port 0: any free port); beyond loopback, clients need credentials")
	fs.StringVar(&o.store, "nats-store", "canvasrelay-nats", "`dir` of the JetStream store (the retained frames survive a restart)")
	fs.StringVar(&o.creds, "nats-creds", "", "NATS credentials `file` (JWT and seed): accept only users of the account that signed it (default: none on loopback, else generated as STORE/canvasrelay.creds)")
	fs.Var(&o.maxPayload, "max-payload", "largest NATS message (`size`); must hold the relays' --max-bytes plus 16 KiB (at most 64MiB)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format`: text or json")
	return cmd
}

func runNats(ctx context.Context, o *natsOptions, stdout, stderr io.Writer) error {
	if o.maxPayload > 64<<20 {
		return usageError(fmt.Errorf("--max-payload %d: NATS allows 64MiB at most", o.maxPayload))
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	store, err := filepath.Abs(o.store)
	if err == nil {
		err = os.MkdirAll(store, 0o750)
	}
	if err != nil {
		return fmt.Errorf("--nats-store: %w", err)
	}
	s, creds, err := startEmbeddedNATS(o.addr, store, o.creds, int(o.maxPayload), log)
	if err != nil {
		return err
	}
	maxBytes := int(o.maxPayload) - natsbroker.Headroom
	fmt.Fprintf(stdout, "canvasrelay nats listening on %s\n", s.ClientURL())
	if creds == "" {
		fmt.Fprintf(stdout, "relay nodes: canvasrelay serve --broker %s (--max-bytes up to %d)\n", s.ClientURL(), maxBytes)
	} else {
		fmt.Fprintf(stdout, "credentials: %s\n", creds)
		fmt.Fprintf(stdout, "relay nodes: canvasrelay serve --broker %s --nats-creds %s (--max-bytes up to %d)\n", s.ClientURL(), creds, maxBytes)
	}
	<-ctx.Done()
	log.Info("stopping NATS")
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}
