package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Patch frames (DESIGN.md, v1.1 "Patch frames"). The text command
// {"type":"patch","x":X,"y":Y} makes the connection's next binary frame a
// patch: an image whose pixels replace the rectangle at (X, Y) of the
// sender's layer, with the image's own size. That binary frame keeps its
// seq and gets exactly one answer, like any other:
//
//   - the checks every frame passes (rate, rights, Inspect, the game,
//     ingest), each with its own code;
//   - bad_request: the command was malformed (x or y missing, not a
//     whole number, negative) or itself refused (rate limited, too long),
//     or the sender has no full frame in the room, or the rectangle does
//     not fit inside that full frame's header width and height (no
//     decode);
//   - keyframe_needed: the sender's layer log holds twice its bound of
//     patch bytes, or wire.MaxLogPatches patches (layerlog.go); a full
//     frame clears it;
//   - internal: the log is out of reach (ErrLogUnavailable: a NATS broker
//     that lost NATS), another connection of the same client id kept
//     appending to it at the same time (ErrLogContended), or the broker
//     failed;
//   - patches_unsupported: the broker keeps no layer log;
//   - otherwise an ack, and the patch is published: subscribers that
//     asked with patches=1 get it (its frame event has patch, x, y), the
//     others get full frames composed from the log (compose.go).
//
// A patch command not followed by a binary frame before the next text
// frame is answered with bad_request when that text frame arrives (and
// the text frame is then handled as usual). A patch command does not spend
// the chat bucket (ChatRate): its binary frame spends the frame and byte
// buckets, and a patch command with no binary frame is a bad_request,
// which counts towards MaxViolations.

// pendingPatch is a patch command waiting for its binary frame. Owned by
// the reader goroutine.
type pendingPatch struct {
	x, y      int
	code, msg string // set when the command was refused: its frame gets this error
}

// maxPatchCoord bounds x and y.
const maxPatchCoord = math.MaxInt32

// onPatch takes a patch command: the next binary frame is its patch.
func (c *conn) onPatch(cmd command) {
	p := &pendingPatch{}
	var err error
	if p.x, err = patchCoord(cmd.X, "x"); err == nil {
		p.y, err = patchCoord(cmd.Y, "y")
	}
	if err != nil {
		p.code, p.msg = CodeBadRequest, "bad patch command: "+err.Error()
	}
	c.patch = p
}

func patchCoord(v *json.RawMessage, name string) (int, error) {
	if v == nil || string(*v) == "null" {
		return 0, fmt.Errorf("%q is missing", name)
	}
	var n int64
	if b := *v; len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) || json.Unmarshal(b, &n) != nil {
		return 0, fmt.Errorf("%q must be a whole number", name)
	}
	if n < 0 || n > maxPatchCoord {
		return 0, fmt.Errorf("%q must be from 0 to %d", name, maxPatchCoord)
	}
	return int(n), nil
}

// patchNotFollowed answers a patch command that a text frame followed
// instead of its binary frame.
func (c *conn) patchNotFollowed() {
	if c.patch == nil {
		return
	}
	c.patch = nil
	c.badRequest("a patch command must be followed by its binary frame before any other text frame")
}

// isPatchCommand reports whether data is a patch command, reading no more
// than its type.
func isPatchCommand(data []byte) bool {
	if !bytes.Contains(data, []byte(`"patch"`)) {
		return false
	}
	var head struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(bytes.TrimSpace(data), &head) == nil && head.Type == TypePatch
}

// patchRefused marks the next binary frame as the patch of a refused
// command when data is a patch command, so that it is not taken for a
// full frame (which would replace the sender's whole layer).
func (c *conn) patchRefused(data []byte, why string) {
	if isPatchCommand(data) {
		c.patch = &pendingPatch{code: CodeBadRequest, msg: "the patch command before this frame was refused: " + why}
	}
}

// patchAllowed answers the binary frame of a refused patch command, or a
// patch on a broker that keeps no layer log; it reports whether the patch
// may go on.
func (c *conn) patchAllowed(p *pendingPatch, seq uint64) bool {
	m := c.srv.metrics
	if p.code != "" {
		m.framesBad.WithLabelValues(p.code).Inc()
		c.reply(errorEvent(p.code, p.msg, seq))
		return false
	}
	if _, ok := c.srv.broker.(LayerLog); !ok {
		m.framesBad.WithLabelValues(CodePatchesUnsupported).Inc()
		c.reply(errorEvent(CodePatchesUnsupported, "this relay does not take patches (its broker keeps no layer log): send full frames", seq))
		return false
	}
	return true
}

// publishPatch publishes an accepted patch image through the broker's
// layer log and answers it; when the log's patches reach its bound, the
// sender is asked for a full frame.
func (c *conn) publishPatch(p *pendingPatch, data []byte, info imageproc.Info, seq uint64) {
	m := c.srv.metrics
	ll := c.srv.broker.(LayerLog) // checked by patchAllowed
	ts := nowMillis()
	x, y := p.x, p.y
	event := mustJSON(FrameEvent{
		Type: TypeFrame, Client: c.client, Name: c.name, Seq: seq,
		Format: string(info.Format), Width: info.Width, Height: info.Height,
		Bytes: info.Bytes, TS: ts, Patch: true, X: &x, Y: &y,
	})
	env, t, ack := c.frameEnvelope(event, data, info, seq, ts)
	env.Patch = &PatchRect{X: x, Y: y, Width: info.Width, Height: info.Height}
	st, err := ll.PublishPatch(c.srv.ctx, env)
	if err != nil {
		code, msg := CodeInternal, "the relay could not publish this patch; try again"
		switch {
		case errors.Is(err, ErrNoFullFrame):
			code, msg = CodeBadRequest, "a patch needs a full frame of yours in this room first"
		case errors.Is(err, ErrPatchOutOfBounds):
			code, msg = CodeBadRequest, strings.TrimPrefix(err.Error(), "relay: ")
		case errors.Is(err, ErrKeyframeNeeded):
			code, msg = CodeKeyframeNeeded, "your layer log is full: send a full frame"
		case errors.Is(err, ErrLogContended):
			msg = "another connection of your client id appended to your layer log at the same time: try again"
		case errors.Is(err, ErrLogUnavailable):
			msg = "the layer log is out of reach (the relay lost its cluster): send a full frame; patches are taken again once it is back"
			c.log.Debug("publish patch", "err", err) // the broker says its cluster is gone, once
		default:
			c.log.Error("publish patch", "err", err)
		}
		m.framesBad.WithLabelValues(code).Inc()
		t.once.Do(func() { c.reply(errorEvent(code, msg, seq)) })
		return
	}
	m.framesOK.Inc()
	m.patchesIn.Inc()
	c.answerFrame(t, ack)
	before := LogState{BaseBytes: st.BaseBytes, PatchBytes: st.PatchBytes - int64(len(env.Image)), Patches: st.Patches - 1}
	if st.keyframeDue() && !before.keyframeDue() {
		m.keyframes.Inc()
		c.sendEvent(keyframeEvent)
	}
}

var keyframeEvent = mustJSON(struct {
	Type string `json:"type"`
}{TypeKeyframe})

// frameEnvelope builds the envelope of an accepted frame (the image is
// copied once, into its wire encoding: gws reuses data after OnMessage
// returns), its ack ticket and its ack.
func (c *conn) frameEnvelope(event, data []byte, info imageproc.Info, seq uint64, ts int64) (*Envelope, *ackTicket, []byte) {
	env := NewFrameEnvelope(event, data)
	env.ID = c.srv.nextID()
	env.Room = c.room.name
	env.Origin = c.id
	env.Client = c.client
	env.TS = ts
	env.Seq = seq
	env.Width, env.Height, env.info = info.Width, info.Height, info
	ack := mustJSON(AckEvent{
		Type: TypeAck, Seq: seq, Format: string(info.Format),
		Width: info.Width, Height: info.Height, Bytes: info.Bytes,
	})
	t := &ackTicket{seq: seq, send: func() { c.sendEvent(ack) }}
	env.local.ack = t // before publish: the envelope never changes after
	return env, t, ack
}

// parsePatches reads the patches query parameter: "1" (or "true") asks
// for patches as they are, "0" (or "false") or none for composed full
// frames; anything else is refused (HTTP 400).
func parsePatches(q url.Values) (bool, error) {
	switch q.Get(wire.QueryPatches) {
	case "1", "true":
		return true, nil
	case "", "0", "false":
		return false, nil
	}
	return false, errors.New("bad patches parameter: want 1 or 0")
}
