package client

import (
	"errors"
	"fmt"
)

var (
	// ErrBadURL means the room URL cannot be turned into a WebSocket URL.
	ErrBadURL = errors.New("client: bad room URL")
	// ErrHandshake means the WebSocket upgrade failed (see *HandshakeError).
	ErrHandshake = errors.New("client: handshake failed")
	// ErrNoHello means the connection opened but no hello event arrived in time.
	ErrNoHello = errors.New("client: no hello from server")
	// ErrConnectionLost means the connection ended before an answer arrived.
	// A frame that fails with it may or may not have been taken by the server.
	ErrConnectionLost = errors.New("client: connection lost")
	// ErrClosed means the Client was closed, or stopped for good (see Client.Err).
	ErrClosed = errors.New("client: closed")
	// ErrGaveUp means reconnecting failed Config.MaxReconnects times in a row,
	// or was refused for good (HTTP 400, 401, 403, 404).
	ErrGaveUp = errors.New("client: gave up reconnecting")
	// ErrRejected matches every *RejectError with errors.Is.
	ErrRejected = errors.New("client: frame rejected")
)

// RejectError is the server's `error` event answering one binary frame, or the
// client's own refusal to send a frame that breaks the limits in hello
// (Local is then true and Seq is 0).
type RejectError struct {
	Code    string // contract error code, e.g. "invalid_image", "too_large"
	Message string // for people
	Seq     int64  // the frame's seq on its connection; 0 when Local
	Local   bool   // refused by the client before sending
}

func (e *RejectError) Error() string {
	if e.Local {
		return fmt.Sprintf("not sent: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("rejected (seq %d): %s: %s", e.Seq, e.Code, e.Message)
}

// Is makes errors.Is(err, ErrRejected) true.
func (e *RejectError) Is(target error) bool { return target == ErrRejected }

// HandshakeError is an upgrade answered with an HTTP status other than 101.
type HandshakeError struct {
	StatusCode int
	Err        error
}

func (e *HandshakeError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("handshake: HTTP %d: %v", e.StatusCode, e.Err)
	}
	return fmt.Sprintf("handshake: %v", e.Err)
}

func (e *HandshakeError) Unwrap() []error { return []error{ErrHandshake, e.Err} }

// permanent reports whether redialing cannot help.
func (e *HandshakeError) permanent() bool {
	switch e.StatusCode {
	case 400, 401, 403, 404:
		return true
	}
	return false
}

// CloseError is the close frame the server sent (code and reason).
type CloseError struct {
	Code   uint16
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("closed by server: %d", e.Code)
	}
	return fmt.Sprintf("closed by server: %d %s", e.Code, e.Reason)
}

// CloseCode returns the close code the server sent, found anywhere in err's chain,
// or 0 when there is none.
func CloseCode(err error) uint16 {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}
