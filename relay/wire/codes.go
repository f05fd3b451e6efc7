package wire

// Error codes: the "code" field of an error event. Never rename one.
const (
	CodeInvalidImage      = "invalid_image"      // not a decodable image of its format
	CodeTooLarge          = "too_large"          // more bytes than max_bytes
	CodeTooManyPixels     = "too_many_pixels"    // width × height over max_pixels
	CodeUnsupportedFormat = "unsupported_format" // not one of hello.formats
	CodeRateLimited       = "rate_limited"       // over a per-connection rate
	CodeForbidden         = "forbidden"          // not allowed (token rights, game rules)
	CodeBadRequest        = "bad_request"        // a malformed or unknown command
	CodeInternal          = "internal"           // the relay failed; not the client's fault

	// v1.1 patch frames.
	CodeKeyframeNeeded     = "keyframe_needed"     // the layer log is full: send a full frame
	CodePatchesUnsupported = "patches_unsupported" // this relay keeps no layer log: send full frames
)

// Codes lists every error code, in the order above.
var Codes = []string{
	CodeInvalidImage, CodeTooLarge, CodeTooManyPixels, CodeUnsupportedFormat,
	CodeRateLimited, CodeForbidden, CodeBadRequest, CodeInternal,
	CodeKeyframeNeeded, CodePatchesUnsupported,
}

// Close codes. 1000–1015 are the WebSocket standard's (RFC 6455); the
// 4000–4999 range is the relay's own.
const (
	CloseNormal        = 1000 // normal closure
	CloseGoingAway     = 1001 // server shutting down
	CloseAbnormal      = 1006 // never sent: a peer that went away without a close frame
	CloseInvalidData   = 1007 // invalid UTF-8 in a text frame
	ClosePolicy        = 1008 // origin, token or abuse
	CloseTooBig        = 1009 // a frame larger than max_bytes
	CloseSlowConsumer  = 4001 // a write did not complete within the write timeout
	CloseQueueOverflow = 4002 // the subscriber's outbound queue went over its byte cap
	ClosePingTimeout   = 4003 // nothing read from the peer within the read timeout

	// CloseRelayMin and CloseRelayMax bound the relay's own close codes.
	CloseRelayMin = 4000
	CloseRelayMax = 4999
)
