package bench

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrUnknownScenario means the scenario name is not one of Scenarios.
	ErrUnknownScenario = errors.New("bench: unknown scenario")
	// ErrBadOptions means the options are out of range or contradict each other.
	ErrBadOptions = errors.New("bench: bad options")
	// ErrNotLoopback means a URL points somewhere other than this machine:
	// the tool only generates load against 127.0.0.1 / ::1 / localhost.
	ErrNotLoopback = errors.New("bench: only loopback targets are allowed")
	// ErrFDLimit means the run needs more file descriptors than the process
	// may open.
	ErrFDLimit = errors.New("bench: file descriptor limit too low")
	// ErrScenarioFailed means a run broke a promise it checks: a rejected or
	// lost frame, a subscriber that missed the last frame, a connection that
	// did not open.
	ErrScenarioFailed = errors.New("bench: scenario failed")
	// ErrProc means /proc could not be read for the server's pid.
	ErrProc = errors.New("bench: reading /proc")
)

// ErrNoChromium means the patches scenario found no Chromium to drive
// (--chromium, $CHROMIUM, or chromium, chromium-browser, google-chrome on
// PATH).
var ErrNoChromium = errors.New("bench: no Chromium")
