package game

import "errors"

// ErrBadWords is wrapped by every error about a word list: an empty list, a
// line over MaxWordRunes characters, or a character other than letters,
// spaces and hyphens. The message names the file and the line.
var ErrBadWords = errors.New("bad word list")

// ErrConfig is wrapped by the errors of Config.Validate.
var ErrConfig = errors.New("bad game config")

// ErrHandover is wrapped by the errors of a match handed over from another
// node that cannot be taken over.
var ErrHandover = errors.New("bad game handover")

// errUnclaimed is what the referee of a cluster coordinator returns to a
// start when its node does not hold a fresh claim for it.
var errUnclaimed = errors.New("game: no claim for this start")
