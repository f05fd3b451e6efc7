// Package natsbroker is a relay.Broker on NATS: several relay nodes behind a
// load balancer share their rooms through a NATS server or cluster, with
// JetStream for the layer logs and for presence. It builds no cluster
// protocol of its own. docs/cluster.md is the operator's guide.
//
// # Subjects, stream and bucket
//
//	relay.v1.room.<room>.frame.<client>  a client's frames, published into the layer stream only
//	                                     (no node subscribes to it)
//	relay.v1.live.<room>.<client>        the same frames, republished by the stream once stored, with
//	                                     Nats-Sequence: what nodes subscribe to
//	relay.v1.room.<room>.event           chat and game events (core only)
//	relay.v1.node.<node>.seat            requests to the node refereeing a game: does a client hold a
//	                                     seat? (core request/reply, seats.go)
//	RELAY_LAYERS                         stream on relay.v1.room.*.frame.*: each subject holds its
//	                                     client's layer log (its newest full frame, then the patches
//	                                     since); AllowRollup, RePublish to relay.v1.live.<room>.<client>,
//	                                     MaxMsgsPerSubject = 1 + wire.MaxLogPatches (1025),
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
// # Layer logs
//
// A full frame is published with Nats-Rollup: sub, which leaves it alone on
// its subject: it starts its client's log. A patch (PublishPatch,
// patchlog.go) is checked against the end of the log, read from the
// Relay-Log header of the subject's last message (logmeta.go), with the
// relay's own check (relay.CheckPatch), and appended with
// Nats-Expected-Last-Subject-Sequence set to that message's sequence: if
// another node appended first, the stream refuses it and PublishPatch
// reads the end again and checks again (up to 8 times). So the log in the
// stream is always a full frame plus patches each checked against the
// whole log before it, whichever nodes the client's connections are on.
//
// Nodes get frames from the stream's republish only, never from the
// publish itself: a core subscriber of the frame subject would also get an
// append the stream refused. Each node keeps a bounded mirror of the logs
// of its rooms (mirror.go) to link each patch into its log before the
// relay delivers it; a patch whose log it lacks (it joined after the full
// frame, or evicted the log) is held back while the log is read from the
// stream on a sync worker.
//
// # Flow
//
//	node A                         NATS                          node B
//	Subscribe(room)  ── SUB ...event, relay.v1.live.<room>.* ─►  ◄── SUB (one pair per room with local members)
//	Publish(frame)   ── JS publish ...frame.<client> ─► stored (rolls up the subject), then
//	                    Nats-Rollup: sub               republished on relay.v1.live.<room>.<client>
//	                 ◄──────────── delivered ─────────┴────────► to every room subscription,
//	                                                             A's own included
//	PublishPatch     ── JS publish ...frame.<client> ─► appended if the subject's last sequence is
//	                    expected last subject seq      still the one checked; republished likewise
//	Publish(chat)    ── PUB ...event ───────────────────────────► to every room subscription, without storage
//	                                                             (game events and game inputs too)
//	Join/Leave       ── KV put <room>.A = [members] ──► watch ─► B: count, join/leave events
//	heartbeat        ── KV put every TTL/3 ───────────► a key not rewritten within the TTL
//	                                                     is a dead node: B makes its leaves
//	Layers(room)     ── consumer, last per subject of ...frame.*, headers only ─► which logs, how big
//	                 ── consumer on those subjects, all messages ─► each log whole, in order
//	ClientHolds      ── presence as watched, then stream info filtered on ...frame.<client>
//	AskSeat          ── KV get relay_games <room> ─► request relay.v1.node.<holder>.seat ─► its game answers
//
// Local members get everything from the room's subscriptions, as remote
// ones do; nothing received is published again; a bounded window of message ids
// drops duplicates. Presence is the exception: the room's own presence
// events are delivered locally, and other nodes make theirs from the
// bucket, so counts converge after a node dies or NATS restarts.
//
// # Bounds
//
// A log holds at most 1 + wire.MaxLogPatches messages (the relay refuses
// further patches with keyframe_needed), so MaxMsgsPerSubject never drops
// the current log's full frame. A node's mirrors hold at most
// Config.MirrorMaxBytes (256 MiB) of logs, least recently updated evicted
// first, and a room's at most MaxLayers logs; 4 sync workers read logs,
// with 256 waiting at most (beyond, a patch is not delivered on that node
// and is counted in canvasrelay_broker_patch_sync_drops_total). Layers
// reads at most MaxLayers logs and Config.MaxRoomBytes (96 MiB), in
// fetches of at most 32 MiB.
//
// # Failures
//
// While NATS is unreachable, Publish delivers to local members directly
// (a full frame so delivered is in no stored log: this node then refuses
// its sender's patches with bad_request until one of its full frames is
// stored), PublishPatch refuses patches (relay.ErrLogUnavailable: the relay
// answers internal), Join and Leave count the other nodes as last seen,
// Layers fails (the late joiner gets no layers), ClientHolds fails (a
// requested client id that is not proven gets a fresh one), and Healthy
// returns ErrDisconnected, so the relay's /readyz answers 503. nats.go reconnects by itself; the room
// subscriptions resume, the broker re-creates the stream and the bucket if
// they were lost, watches the bucket again and rewrites its keys. Frames
// published during the outage reached local members only and are not
// retained. There is no reconnect buffer: nothing piles up. Frames cross
// nodes only once stored: a frame the stream refuses (JetStream down or out
// of resources) reaches the publishing node's members only, as in an
// outage. A stream made again numbers its messages from 1; the mirrors
// track frames by id and log index, so they follow. A log whose full
// frame leaves the stream (MaxAge, MaxBytes) is left out of Layers and of
// the mirrors until its client's next full frame; a patch on a full frame
// older than LayerMaxAge (less a minute, or a tenth of it if shorter) is
// refused as having none.
package natsbroker
