// Package relay is the canvasrelay server: rooms, connections, per-subscriber
// queues and the Broker between a room's publish and its delivery.
//
// # Protocol flow
//
//	client                                   relay
//	  | GET /ws/{room}?name=&client=&resume=&patches=1 |  admit (admit.go, every refusal listed):
//	  |  (Sec-WebSocket-Protocol: canvasrelay.v1, optional)   400 bad room, 405, 403 origin,
//	  |                                        |  401/403 token, 400 client id, rendition or patches,
//	  |                                        |  429/503 full, 503 shutting down
//	  |                                        |  client granted (identity.go): as asked if it
//	  |                                        |  holds nothing in the room, else with its resume
//	  |                                        |  or a token's subject, else a fresh id
//	  |<---------------- 101 ------------------|
//	  |<---- {"type":"hello",id,client,resume,room,count,max_bytes,max_pixels,formats}
//	  |                                        |  client: the id in force; resume: keep it with
//	  |                                        |  client and send both back on a reconnect
//	  |<---- {"type":"frame",…} + binary       |  one pair per retained layer
//	  |                                        |  (late joiners), oldest first,
//	  |                                        |  one at a time as it drains
//	  |---- binary: PNG/JPEG/GIF/WebP -------->|  seq = 1, 2, 3 … per connection
//	  |<---- {"type":"ack",seq,format,width,height,bytes}
//	  |      or {"type":"error",code,message,seq}
//	  |                                        |--> others: {"type":"frame",…} + binary
//	  |---- {"type":"patch","x":X,"y":Y} ----->|  the next binary frame is a patch (patch.go)
//	  |---- binary: the patch image ---------->|  seq as any frame; ack, or error (bad_request,
//	  |                                        |  keyframe_needed, internal, patches_unsupported)
//	  |                                        |--> patches=1: {"type":"frame",…,"patch":true,x,y} + binary
//	  |                                        |--> others: a full frame composed from the log
//	  |<---- {"type":"keyframe"}               |  the layer log is long: send a full frame
//	  |---- {"type":"chat","text":…} or text ->|--> others: {"type":"chat",client,name,text,ts}
//	  |<---- {"type":"presence",count,event,client,name}  (others join/leave)
//	  |<----------- ping ----------------------|  every PingInterval; answer pong
//
// The names and numbers of this flow (event types and their JSON fields,
// error and close codes, the room-name and client-id rule, the query
// parameters, hello's default limits) are written once, in package
// relay/wire, which imports only the standard library; relay/client,
// relay/game, the CLI and the web pages (web/static/js/contract.js, made
// from it by go generate) take them from there. The relay's own exported
// names for them (TypeHello, HelloEvent, CodeTooLarge, CloseTooBig,
// ValidRoom, …) are aliases of wire's. Not to be confused with wire.go in
// this package: the pre-encoded WebSocket frame bytes.
//
// # Identity
//
// A client id owns things in a room: its layer, its game seat, the word
// while it draws, the private chat of those who guessed. So the upgrade
// grants a requested `client` as asked only when the id holds nothing in
// the room anywhere in the cluster: no open connection (Broker.ClientHolds:
// this node's members and the broker's presence of the others), no
// retained layer (ClientHolds: the layer store), no seat in the room's
// running game (SeatHolder; when the game is refereed on another node,
// that node is asked through the broker, SeatAsker). A held id needs its `resume` (hello.resume, an
// HMAC of the id under the identity key, the same on every node) or a token
// whose subject names it; anything else, and any lookup error, gets a fresh
// random id, never an error. The scope is the room: what an id owns lives
// in one room, so the same id in another room holds nothing here (it has
// one resume for every room). The identity key is derived from
// Config.AuthSecret, or random per node and shared through the broker
// (IdentityKeySharer: the NATS broker keeps it in a KV bucket).
//
// # Queues
//
// Every subscriber has one outQueue: text events in a FIFO capped in bytes
// (never dropped), image frames latest-wins per source client (a newer full
// frame replaces everything of that source still pending; patches go after
// the frames they continue, never dropped from the middle), capped in bytes. Events are written first, so
// hello is always the first message and receipts are not held behind images.
// A late joiner's retained layers are not queued at once: they come right
// after hello, and its writer takes the next one when the one before is
// written, so a room's layers (up to Config.RoomRetainedBytes) reach the
// joiner in full whatever the frame cap.
// Each outgoing message is encoded once, as the bytes of a whole WebSocket
// frame (wire.go), and those bytes are written to every subscriber. A
// publisher never waits for a subscriber; its acks are paced to delivery
// (ack.go): a frame's ack is held until half the local subscribers that
// took it were written it or a newer frame of its sender that replaced it
// (at most 1 s, the bound for a frame replaced unseen), so that a sender
// pacing on acks matches its median viewer.
//
// # Patch frames
//
// A sender's layer is a layer log (layerlog.go): its newest full frame and
// the patches since, kept by a broker that implements LayerLog (the memory
// broker, under its room lock; the NATS broker, in its stream, appending
// with the expected last sequence of the sender's subject; any other broker
// gets patches_unsupported). Both check a patch with CheckPatch and link it
// with Log. The log is checked and appended in one step, so the bounds
// check (header sizes only) and the keyframe_needed bounds (bytes, and
// wire.MaxLogPatches patches) hold whatever the connections of one client
// do. Each published patch carries
// its place in the log and the log before it (an immutable prefix), so a
// subscriber's queue can always give it a full frame plus consecutive
// patches (queue_frames.go). Subscribers without patches=1, and
// renditions, get full frames composed on the worker pool (compose.go).
//
// # Image checks
//
// Every binary frame passes imageproc.Inspect (format, size, pixel count,
// and a JPEG's scan count, from a marker walk), then, as Config.Verify says,
// imageproc.CheckStructure on the reader goroutine (the default: the
// container walked, chunk CRCs, nothing after the end marker, no decode)
// and, for VerifyFull, a complete decode on the worker pool. Image jobs
// (renditions, full checks, normalising) run on the pool: each reserves its
// memory cost, counted from the header (imageproc.MemoryCost), from
// Config.DecodeMemory, and one that could never fit is refused
// (too_many_pixels); each may use Config.ImageTimeout of CPU time, after
// which its decode fails (invalid_image, counted as abandoned). Bytes that
// pass through a rendition or normalising leave without metadata or data
// after their end marker.
//
// # Close codes
//
//	1000  normal closure
//	1001  server going away (Shutdown)
//	1007  a text frame that is not valid UTF-8
//	1008  policy: origin, token or abuse
//	1009  a frame larger than max_bytes
//	4001  slow consumer: a write did not complete within Config.WriteTimeout
//	4002  queue overflow: the subscriber's outbound queue went over its byte cap
//	4003  read timeout: nothing (not even a pong) read within Config.ReadTimeout
//
// A subscriber cut off with 4001 has stopped reading, so its close frame
// usually cannot reach it: the relay counts the reason
// (canvasrelay_disconnects_total{reason="slow_consumer",code="4001"}) and
// closes the TCP connection after Config.ShutdownGrace.
//
// # Room tokens
//
// With Config.AuthSecret or Config.AuthPublicKeys set, GET /ws/{room} and
// /api/rooms need a JWT (?token= or Authorization: Bearer), checked before
// the upgrade by a Verifier (token_verify.go): the token's alg picks a parser
// that accepts only that algorithm and only the keys of that type (HS256:
// the secret; RS256, ES256, EdDSA: public keys from PEM or JWKS,
// token_keys.go), then exp (required), nbf and iat with TokenLeeway, then
// the relay's claims (token.go): room, publish, subscribe, admin, sub (fixes
// the client id) and name (the display name). 401 for a bad token, 403 for
// another room, no rights or another client id.
//
// # Games
//
// A room may host a game (Config.Game; package relay/game). The seam is
// three interfaces (game.go): the relay calls the room's Game (Command,
// Chat, AllowFrame, Joined, Left, and Input and Observe from the broker
// feed); the game acts through its GameRoom (broadcast, send to one
// connection, relay chat, clear layers, send a game input); and a game
// played across nodes takes a GameClaims store in its own config (the NATS
// broker's), never found by the relay. A game changes its state under its
// own lock and acts on the GameRoom only after releasing it: a GameRoom call
// may reach the network (ClearLayers purges a NATS stream), and a frame's
// AllowFrame must never wait on that. Only a connection that may both
// publish and subscribe plays (Player.Plays); delivery gives Envelope.Private
// and To-restricted chat to such connections only.
package relay
