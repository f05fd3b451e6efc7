package imageproc

import (
	"errors"
	"fmt"
)

// Contract error codes (see the wire contract in the README). Every error
// returned by this package maps to exactly one of them through Code.
const (
	CodeInvalidImage      = "invalid_image"
	CodeUnsupportedFormat = "unsupported_format"
	CodeTooLarge          = "too_large"
	CodeTooManyPixels     = "too_many_pixels"
)

// Error is the error type of this package. Code is a stable contract word,
// Msg is for people. Errors returned by Inspect, Verify and Reencode are
// *Error values that wrap one of the sentinels below (and, where there is
// one, the underlying decoder error), so errors.Is works with the sentinels.
type Error struct {
	Code string
	Msg  string

	kind  *Error // sentinel this error is an instance of; nil for sentinels
	cause error  // underlying error (decoder/encoder), may be nil
}

// Sentinel errors. Compare with errors.Is.
var (
	ErrEmpty         = &Error{Code: CodeInvalidImage, Msg: "empty image"}
	ErrInvalid       = &Error{Code: CodeInvalidImage, Msg: "invalid image"}
	ErrUnsupported   = &Error{Code: CodeUnsupportedFormat, Msg: "unsupported format"}
	ErrTooLarge      = &Error{Code: CodeTooLarge, Msg: "image too large"}
	ErrTooManyPixels = &Error{Code: CodeTooManyPixels, Msg: "too many pixels"}
	// ErrTimeout: the work's context ended (its time budget) before the
	// work did. Its code is invalid_image: an image that takes longer than
	// the budget to decode is hostile or broken for a live relay.
	ErrTimeout = &Error{Code: CodeInvalidImage, Msg: "image work over its time budget"}
	// ErrOverBudget: Pool.Submit of a job that costs more memory than the
	// pool's whole budget (for Reencode, MemoryCost: a 130 KB 16-bit
	// interlaced 4096x4096 PNG decodes into 256 MiB). Its code is
	// too_many_pixels: the image needs more decode memory than allowed.
	ErrOverBudget = &Error{Code: CodeTooManyPixels, Msg: "image over the decode memory budget"}
)

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.cause)
	}
	return e.Code + ": " + e.Msg
}

// Unwrap returns the sentinel and the cause, so that both
// errors.Is(err, ErrInvalid) and errors.Is(err, io.ErrUnexpectedEOF) work.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// newErr returns an instance of sentinel kind with a specific message and an
// optional cause.
func newErr(kind *Error, cause error, format string, args ...any) *Error {
	return &Error{Code: kind.Code, Msg: fmt.Sprintf(format, args...), kind: kind, cause: cause}
}

// Code returns the contract error code for err: "" for nil, the Code of an
// *Error anywhere in the chain, and "invalid_image" for any other error.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInvalidImage
}

// Pool errors. They concern scheduling, not images, so they are plain errors
// (Code maps them to invalid_image only as a fallback; callers should map
// ErrPoolFull to their own back-pressure answer).
var (
	ErrPoolFull   = errors.New("imageproc: pool full")
	ErrPoolClosed = errors.New("imageproc: pool closed")
)
