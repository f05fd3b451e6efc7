package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/canvasrelay/canvasrelay/relay"
)

// brokerOptions are the serve flags that choose the broker. The in-memory
// broker (a single node) is the default.
type brokerOptions struct{}

// register adds the broker flags to serve's flag set.
func (b *brokerOptions) register(fs *flag.FlagSet) {}

// open returns the broker to use, or nil for the in-memory default, and a
// function that releases it after the relay has shut down.
func (b *brokerOptions) open(ctx context.Context, maxBytes int, log *slog.Logger) (relay.Broker, func(), error) {
	return nil, func() {}, nil
}
