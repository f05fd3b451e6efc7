package natsbroker

import "errors"

// Sentinel errors. Callers match them with errors.Is; the broker wraps them
// with the step that failed.
var (
	// ErrNoURL means Config.URLs is empty.
	ErrNoURL = errors.New("natsbroker: no NATS server URL")
	// ErrMaxPayload means the NATS server's max_payload is too small for the
	// relay's largest image.
	ErrMaxPayload = errors.New("natsbroker: NATS max_payload too small")
	// ErrDisconnected means the broker has lost its NATS connection; it is
	// reconnecting by itself.
	ErrDisconnected = errors.New("natsbroker: disconnected from NATS")
	// ErrBadNodeID means Config.NodeID has characters other than
	// A-Z a-z 0-9 _ -.
	ErrBadNodeID = errors.New("natsbroker: bad node id")
	// ErrBadMessage means a message from NATS could not be decoded.
	ErrBadMessage = errors.New("natsbroker: bad message")
)
