package game

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: relays, clients
// and the games' timers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
