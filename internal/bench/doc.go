// Package bench measures canvasrelay against a floor: the thinnest fan-out
// on raw gws (one Broadcaster per frame, no validation, no queue policy),
// run in the same invocation so that every result is also a ratio that the
// machine's speed and load mostly cancel out of. It is the engine of
// "canvasrelay bench" (issue 9).
//
// # Scenarios
//
//	fanout      1 publisher, N subscribers, frames of S bytes at rate F (0: as fast
//	            as acks allow, with a small window): published and delivered
//	            frames/s, MB/s, delivery ratio, publish→receive latency p50/p95/p99/max,
//	            waste (acked frames that reached no subscriber), delivered MB per
//	            server CPU-second, peak RSS; issue 17's targets at 100 and 500
//	stalled     fanout plus K subscribers that never read: the fast ones' latency
//	            against a run without stalls, RSS growth, when the server cut the
//	            stalled ones off (close 4001, canvasrelay_disconnects_total)
//	idle        N connections that never send or read: RSS per connection, connect rate
//	renditions  subscribers split across 3 renditions: re-encodes per frame and
//	            rendition (the target is exactly 1), CPU per frame
//	cluster     two relay nodes sharing a room through NATS (embedded) against one node
//	patches     issue 18: the real pages in headless Chromium (chromedp), served by
//	            an in-process relay: a whiteboard of 200 mouse strokes on 1280x720,
//	            and a 1080p screen share of a stand-in canvas with a 2 Hz cursor and
//	            text typed at 5 characters/s; each workload runs with patches and
//	            again with the page sending full frames only (?patches=0). Bytes
//	            that subscribers with and without patches=1 receive, and the viewer
//	            page's picture compared pixel for pixel with the sender's. It has no
//	            floor: the full-frame run is its reference
//
// # Run flow
//
//	Run(scenario, Options)
//	  └ for each run in the plan (relay, floor, ... ; reversed on odd --repeat)
//	      start the server: in this process on 127.0.0.1:0, or reach it by URL
//	      dial subscribers (relay/client, or the lite gws reader), wait for hello
//	      dial raw stalled/idle sockets (hand-made handshake, then nothing)
//	      sample /proc/PID (CPU, RSS) and /metrics (cut-offs, queued bytes)
//	      publish with relay/client: window of acks, or of deliveries; bounded
//	        by Options.Frames and Options.Duration
//	      drain (bounded), close everything, check the promises
//	  └ ratios relay/floor, the targets of issue 9, notes → Report
//
// A run fails (ErrScenarioFailed) when the relay breaks a promise the run
// can see: a frame rejected or left unanswered, a fast subscriber that does
// not get the last acked frame, a frame received twice or out of order, a
// rendition in the wrong format or size. Missed performance targets are
// reported, not failed, since the numbers move with the machine's load.
//
// Only loopback targets are accepted, and every load loop is bounded in
// count and in time.
package bench
