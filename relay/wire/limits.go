package wire

import "time"

// The defaults of the limits a hello announces. A relay may be configured
// otherwise (hello says what is in force); relay.DefaultConfig starts
// from these.
const (
	DefaultMaxBytes  = 8 << 20     // hello.max_bytes: 8 MiB
	DefaultMaxPixels = 4096 * 4096 // hello.max_pixels
)

// DefaultFormats is hello.formats by default (a new slice on each call).
func DefaultFormats() []string { return []string{FormatPNG, FormatJPEG, FormatGIF, FormatWebP} }

// Limits the contract states.
const (
	// MaxResumeLen is the longest hello.resume (and ?resume=).
	MaxResumeLen = 64

	// A game start command: rounds and seconds per turn, and their defaults.
	MinRounds      = 1
	MaxRounds      = 10
	DefaultRounds  = 1
	MinSeconds     = 15
	MaxSeconds     = 180
	DefaultSeconds = 60
	// MaxGamePause is the longest pause allowed before the first turn,
	// between a reveal and the next turn, and before over.
	MaxGamePause = 5 * time.Second

	// v1.1 patch frames: the relay asks for a keyframe when a layer log's
	// patches reach the bytes of its full frame, and at least this many.
	KeyframeMinBytes = 64 << 10
	// And it asks for a keyframe when a log holds this many patches, and
	// refuses patches (keyframe_needed) once it holds MaxLogPatches: a log
	// of tiny patches (a 1×1 GIF is about 40 bytes) would otherwise hold
	// thousands of entries within its bytes, each costing far more than
	// its bytes in memory, per-entry work and stream messages.
	KeyframePatches = 512
	MaxLogPatches   = 1024
)
