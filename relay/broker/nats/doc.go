// Package natsbroker is a relay.Broker on NATS: several relay nodes behind a
// load balancer share their rooms through a NATS server or cluster, with
// JetStream for the retained frames and for presence. It builds no cluster
// protocol of its own. docs/cluster.md is the operator's guide.
//
// # Subjects, stream and bucket
//
//	relay.v1.room.<room>.frame.<client>  a client's frames (core fan-out, and kept by the stream)
//	relay.v1.room.<room>.event           chat and game events (core only)
//	relay.v1.node.<node>.seat            requests to the node refereeing a game: does a client hold a
//	                                     seat? (core request/reply, seats.go)
//	RELAY_LAYERS                         stream on relay.v1.room.*.frame.*, MaxMsgsPerSubject=1,
//	                                     MaxAge (24 h) and MaxBytes (1 GiB), discard old
//	relay_presence                       KV bucket, key <room>.<node>, value: that node's members
//	                                     of the room; TTL = PresenceTTL (15 s), memory storage
//	                                     (and node.<node>.alive, rewritten by each heartbeat)
//	relay_games                          KV bucket, key <room>, value: the node refereeing its game;
//	                                     TTL 5/6 of PresenceTTL, memory storage (gameclaim.go)
//	relay_identity                       KV bucket, key resume-key, value: the cluster's identity key
//	                                     (makes hello.resume), made by the first node with a create,
//	                                     read by the others; file storage, no TTL (identity.go)
//
// A room or client id becomes one subject token: bytes other than
// A-Z a-z 0-9 _ - are escaped as =XX (a room may contain dots).
//
// # Flow
//
//	node A                         NATS                          node B
//	Subscribe(room)  ── SUB relay.v1.room.<room>.> ──►   ◄── SUB (one per room with local members)
//	Publish(frame)   ── JS publish ...frame.<client> ─► stored as the client's layer, and
//	                 ◄──────────── delivered ─────────┴────────► to every room subscription,
//	                                                             A's own included
//	Publish(chat)    ── PUB ...event ───────────────────────────► likewise, without storage
//	                                                             (game events and game inputs too)
//	Join/Leave       ── KV put <room>.A = [members] ──► watch ─► B: count, join/leave events
//	heartbeat        ── KV put every TTL/3 ───────────► a key not rewritten within the TTL
//	                                                     is a dead node: B makes its leaves
//	Layers(room)     ── consumer, last per subject of relay.v1.room.<room>.frame.* ─► fetch
//	ClientHolds      ── presence as watched, then stream info filtered on ...frame.<client>
//	AskSeat          ── KV get relay_games <room> ─► request relay.v1.node.<holder>.seat ─► its game answers
//
// Local members get everything from the room's subscription, as remote ones
// do; nothing received is published again; a bounded window of message ids
// drops duplicates. Presence is the exception: the room's own presence
// events are delivered locally, and other nodes make theirs from the
// bucket, so counts converge after a node dies or NATS restarts.
//
// # Failures
//
// While NATS is unreachable, Publish delivers to local members directly,
// Join and Leave count the other nodes as last seen, Layers fails (the
// late joiner gets no layers), ClientHolds fails (a requested client id
// that is not proven gets a fresh one), and Healthy returns ErrDisconnected, so the
// relay's /readyz answers 503. nats.go reconnects by itself; the room
// subscriptions resume, the broker re-creates the stream and the bucket if
// they were lost, watches the bucket again and rewrites its keys. Frames
// published during the outage reached local members only and are not
// retained. There is no reconnect buffer: nothing piles up.
package natsbroker
