// Package relay is the canvasrelay server: rooms, connections, per-subscriber
// queues and the Broker between a room's publish and its delivery.
//
// # Protocol flow
//
//	client                                   relay
//	  | GET /ws/{room}?name=&client=           |  400 bad room, 403 origin,
//	  |  (Sec-WebSocket-Protocol: canvasrelay.v1, optional)   503 full/shutting down
//	  |<---------------- 101 ------------------|
//	  |<---- {"type":"hello",id,client,room,count,max_bytes,max_pixels,formats}
//	  |<---- {"type":"frame",…} + binary       |  one pair per retained layer
//	  |                                        |  (late joiners), oldest first
//	  |---- binary: PNG/JPEG/GIF/WebP -------->|  seq = 1, 2, 3 … per connection
//	  |<---- {"type":"ack",seq,format,width,height,bytes}
//	  |      or {"type":"error",code,message,seq}
//	  |                                        |--> others: {"type":"frame",…} + binary
//	  |---- {"type":"chat","text":…} or text ->|--> others: {"type":"chat",client,name,text,ts}
//	  |<---- {"type":"presence",count,event,client,name}  (others join/leave)
//	  |<----------- ping ----------------------|  every PingInterval; answer pong
//
// # Queues
//
// Every subscriber has one outQueue: text events in a FIFO capped in bytes
// (never dropped), image frames latest-wins per source client (a newer frame
// replaces the pending one), capped in bytes. Events are written first, so
// hello is always the first message and receipts are not held behind images.
// Each outgoing message is prepared once (gws.Broadcaster) and shared by
// every subscriber. A publisher never waits for a subscriber; when most of
// them are behind on its previous frame, its ack is held (ack.go), so that a
// sender pacing on acks matches its median viewer.
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
package relay
