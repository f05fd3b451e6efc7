// Package client is a Go client for the canvasrelay wire contract (v1).
//
// It speaks only the contract described in the project README and DESIGN.md,
// whose names and codes it takes from package relay/wire, and it does not
// import the server packages (a test holds it to that), so it is what any
// other program would use:
// the CLI (`canvasrelay send`, `canvasrelay watch`), the tests and the benchmark
// tool are all built on it.
//
// # Flow
//
//	c, err := client.Dial(ctx, client.Config{URL: "http://host/r/room", Name: "bot"})
//	// Dial returns once the server's hello has arrived (c.Hello()).
//	ack, err := c.Send(ctx, pngBytes)      // one binary frame, waits for its ack or error
//	var rej *client.RejectError            // an `error` event for that seq
//	errors.As(err, &rej)                   // rej.Code == "too_large", ...
//	for ev := range c.Events() { ... }     // hello, presence, chat, game, error, unknown
//	for f := range c.Frames() { ... }      // a `frame` event paired with the binary frame after it
//	c.Close()                              // close 1000
//
// # Patches
//
// A sender may send only the rectangle of its layer that changed:
// c.SendPatch(ctx, x, y, img) (a full frame of this client must be in the
// room first; a keyframe_needed rejection asks for a full frame). The
// Client asks the relay for patches (patches=1; Config.FullFrames turns it
// off) and applies them to each sender's picture, so Frames always carries
// whole pictures: after a patch, Frame.Data is the picture as PNG and
// Frame.Patch the patch as it came (see patch.go).
//
// # Receipts and seq
//
// The server numbers a connection's binary frames from 1 and answers each one with
// exactly one `ack` or `error` carrying that seq. The Client counts its own binary
// frames per connection in the same way (the count restarts on every reconnect) and
// matches answers to senders by seq. A frame whose connection is lost before its
// answer arrives fails with ErrConnectionLost: the server may or may not have taken
// it, and the caller decides whether to send it again.
//
// # Bounded buffers
//
// Incoming events and frames go through queues bounded in count and bytes
// (Config.EventBuffer, Config.FrameBuffer, Config.FrameBufferBytes). The read loop
// never blocks on a slow consumer: when a queue is full the oldest entry is dropped
// and counted (Stats). Several frames may be in flight at once (Config.Window,
// SendAsync).
//
// # Reconnects
//
// With Config.Reconnect the Client redials after a lost connection with exponential
// backoff and jitter, bounded by Config.MaxBackoff and Config.MaxReconnects. It
// redials with the client id in force (the newest hello's) and the resume that
// proves it, so the relay grants the same id although the id holds something in
// the room (its layer, a game seat): the room keeps this client's layer. When a
// hello names another id than the one asked for (held by someone else, and not
// proven), the Client adopts it. Keep Client.ClientID and Client.Resume to come
// back as the same client later (Config.ClientID, Config.Resume). A handshake
// refused with 400, 401, 403 or 404 is final.
package client
