//go:build !linux

package imageproc

import "time"

// threadCPU cannot read a thread's CPU time here: budgets fall back to
// wall-clock time.
func threadCPU() (time.Duration, bool) { return 0, false }
