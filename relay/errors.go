package relay

import (
	"errors"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Error codes carried by the "code" field of an error event (package wire).
// They are part of the wire contract: never rename one.
const (
	CodeInvalidImage      = wire.CodeInvalidImage
	CodeTooLarge          = wire.CodeTooLarge
	CodeTooManyPixels     = wire.CodeTooManyPixels
	CodeUnsupportedFormat = wire.CodeUnsupportedFormat
	CodeRateLimited       = wire.CodeRateLimited
	CodeForbidden         = wire.CodeForbidden
	CodeBadRequest        = wire.CodeBadRequest
	CodeInternal          = wire.CodeInternal
	// CodeKeyframeNeeded refuses a patch while the sender's layer log is
	// over twice its bound: send a full frame (patch.go).
	CodeKeyframeNeeded = wire.CodeKeyframeNeeded
	// CodePatchesUnsupported refuses a patch on a relay whose broker keeps
	// no layer log (a custom broker): send full frames.
	CodePatchesUnsupported = wire.CodePatchesUnsupported
)

// Close codes sent by the relay (package wire). The 4000–4999 range is the
// relay's own; see doc.go and the README for the full table.
const (
	CloseGoingAway     = wire.CloseGoingAway     // server shutting down
	CloseInvalidData   = wire.CloseInvalidData   // invalid UTF-8 in a text frame
	ClosePolicy        = wire.ClosePolicy        // origin, token or abuse
	CloseTooBig        = wire.CloseTooBig        // frame larger than max_bytes
	CloseSlowConsumer  = wire.CloseSlowConsumer  // a write did not complete within Config.WriteTimeout
	CloseQueueOverflow = wire.CloseQueueOverflow // the subscriber's outbound queue went over its byte cap
	ClosePingTimeout   = wire.ClosePingTimeout   // nothing read from the peer within Config.ReadTimeout

	// closeAbnormal (1006) is never sent: it records a peer that went away
	// without a close frame.
	closeAbnormal = wire.CloseAbnormal
)

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrShuttingDown is returned for work refused because Shutdown has begun.
	ErrShuttingDown = errors.New("relay: shutting down")
	// ErrRoomFull means a room is at Config.MaxMembersPerRoom.
	ErrRoomFull = errors.New("relay: room full")
	// ErrTooManyRenditions means a room's members already asked for
	// Config.MaxRenditionsPerRoom distinct renditions.
	ErrTooManyRenditions = errors.New("relay: too many distinct renditions in this room")
	// ErrTooManyRooms means the server is at Config.MaxRooms.
	ErrTooManyRooms = errors.New("relay: too many rooms")
	// ErrTooManyFromIP means one client address is at Config.MaxConnsPerIP.
	ErrTooManyFromIP = errors.New("relay: too many connections from this address")
	// ErrTooManyConns means the server is at Config.MaxConns.
	ErrTooManyConns = errors.New("relay: too many connections")
	// ErrBrokerClosed is returned by a Broker after Close.
	ErrBrokerClosed = errors.New("relay: broker closed")
	// ErrNoFullFrame refuses a patch whose sender has no full frame in the
	// room (LayerLog.PublishPatch).
	ErrNoFullFrame = errors.New("relay: patch before any full frame")
	// ErrPatchOutOfBounds refuses a patch that does not fit inside its
	// sender's full frame.
	ErrPatchOutOfBounds = errors.New("relay: patch out of bounds")
	// ErrKeyframeNeeded refuses a patch while the layer log's patches are
	// at twice its bound, or hold wire.MaxLogPatches patches.
	ErrKeyframeNeeded = errors.New("relay: keyframe needed")
	// ErrLogUnavailable refuses a patch whose layer log cannot be reached
	// (a cluster broker that lost its cluster): a patch then could not be
	// kept in order with the log that late joiners read.
	ErrLogUnavailable = errors.New("relay: layer log unavailable")
	// ErrLogContended refuses a patch that lost the race for the end of
	// its layer log to other appends too many times in a row (another
	// connection of the same client id, on another node).
	ErrLogContended = errors.New("relay: layer log contended")
)

var (
	errInvalidUTF8 = errors.New("relay: invalid UTF-8 in text frame")
	errBadCommand  = errors.New("relay: bad command")
)
