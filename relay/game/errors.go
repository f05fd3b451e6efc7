package game

import "errors"

// ErrBadWords is wrapped by every error about a word list: an empty list, a
// line over MaxWordRunes characters, or a character other than letters,
// spaces and hyphens. The message names the file and the line.
var ErrBadWords = errors.New("bad word list")

// ErrConfig is wrapped by the errors of Config.Validate.
var ErrConfig = errors.New("bad game config")
