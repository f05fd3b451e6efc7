package natsbroker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures RunEmbedded: a NATS server with JetStream inside
// this process, for a small cluster with no separate install and for tests.
type EmbeddedConfig struct {
	// Host is the address to listen on. Default 127.0.0.1.
	Host string
	// Port is the client port. 0 means 4222; -1 picks a free port.
	Port int
	// StoreDir is where JetStream keeps the layer stream. Required.
	StoreDir string
	// MaxPayload is the largest message the server accepts. Default 16 MiB.
	MaxPayload int
	// Name is the server name. Default "canvasrelay-nats".
	Name string
	// Logger receives the server's logs. Default: none.
	Logger *slog.Logger
	// CredsFile is a NATS credentials file (see WriteCredsFile). With it,
	// the server only accepts users of the account that signed it; without
	// it, anyone who reaches the port may connect, so a Host other than
	// loopback is refused with ErrOpenNATS (embedded_auth.go). Default none.
	CredsFile string
}

// RunEmbedded starts a NATS server with JetStream and waits until it accepts
// connections. Stop it with Shutdown and WaitForShutdown.
func RunEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 16 << 20
	}
	if cfg.Name == "" {
		cfg.Name = "canvasrelay-nats"
	}
	if cfg.StoreDir == "" {
		return nil, fmt.Errorf("natsbroker: embedded NATS needs a store directory")
	}
	if cfg.CredsFile == "" && !IsLoopback(cfg.Host) {
		return nil, fmt.Errorf("%w: listening on %q", ErrOpenNATS, cfg.Host)
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       cfg.Port,
		MaxPayload: int32(min(cfg.MaxPayload, 64<<20)),
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
	}
	if cfg.CredsFile != "" {
		if err := trustCreds(opts, cfg.CredsFile); err != nil {
			return nil, err
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: embedded NATS: %w", err)
	}
	if cfg.Logger != nil {
		s.SetLogger(natsLogger{cfg.Logger.With("component", "nats-server")}, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("natsbroker: embedded NATS on %s:%d did not start", cfg.Host, cfg.Port)
	}
	return s, nil
}

// natsLogger sends nats-server's logs to slog.
type natsLogger struct{ l *slog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Tracef(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
