package cli

import "errors"

// exitError carries a process exit code out of Run.
type exitError struct {
	code  int
	usage bool // a bad command line: Run points to --help
	err   error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as a usage error: exit code 2.
func usageError(err error) error { return &exitError{code: 2, usage: true, err: err} }

// ExitCode maps Run's error to the process exit code: 0 for success (and
// --help), the carried code for an *exitError, else 1.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
