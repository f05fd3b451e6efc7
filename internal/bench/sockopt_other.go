//go:build !linux

package bench

import (
	"math"
	"syscall"
)

// rcvBufControl is a no-op off Linux: stalled subscribers stall later.
func rcvBufControl(int) func(network, address string, c syscall.RawConn) error { return nil }

// openFileLimit is unknown off Linux.
func openFileLimit() (uint64, error) { return math.MaxUint64, nil }
