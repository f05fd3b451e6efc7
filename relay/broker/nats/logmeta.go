package natsbroker

import (
	"container/list"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/nats-io/nats.go"
)

// The layer log in the stream. A sender's subject (frameSubject) holds its
// log: its newest full frame, published with Nats-Rollup: sub (which
// removes everything before it on the subject, atomically), then each
// patch since, appended with Nats-Expected-Last-Subject-Sequence set to the
// sequence of the log's last message as the publisher checked it. So two
// connections of one client id, on two nodes, cannot interleave a broken
// log: the loser of a race reads the log again and checks again.
//
// Each frame message carries the state of its log once it is in, in the
// header Relay-Log, so that the last message of a subject is enough to
// check the next patch:
//
//	Relay-Log: 1 <index> <width> <height> <base bytes> <patch bytes> <base ts> <base id>
//
// index is 0 for the full frame and k for its k-th patch; width, height,
// base bytes, base ts and base id are the full frame's (its header size,
// image bytes, ts in ms and envelope id); patch bytes is the image bytes of
// the log's patches up to this one.
const hdrLog = "Relay-Log"

// logMeta is a Relay-Log header.
type logMeta struct {
	idx           int // 0: the full frame; k: its k-th patch
	width, height int // the full frame's size
	baseBytes     int
	patchBytes    int64
	baseTS        int64
	baseID        string
}

// fullMeta is the log state of a full frame.
func fullMeta(env *relay.Envelope) logMeta {
	return logMeta{width: env.Width, height: env.Height, baseBytes: len(env.Image), baseTS: env.TS, baseID: env.ID}
}

func (m logMeta) state() relay.LogState {
	return relay.LogState{BaseBytes: m.baseBytes, PatchBytes: m.patchBytes, Patches: m.idx}
}

func (m logMeta) String() string {
	return fmt.Sprintf("1 %d %d %d %d %d %d %s", m.idx, m.width, m.height, m.baseBytes, m.patchBytes, m.baseTS, m.baseID)
}

// parseLogMeta reads a Relay-Log header; ok is false when there is none
// (a frame of a node before patches crossed nodes) or it is malformed.
func parseLogMeta(h nats.Header) (m logMeta, ok bool) {
	f := strings.Fields(h.Get(hdrLog))
	if len(f) != 8 || f[0] != "1" {
		return logMeta{}, false
	}
	var n [6]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil || (v < 0 && i != 5) || (i < 4 && v > 1<<31) {
			return logMeta{}, false
		}
		n[i] = v
	}
	return logMeta{idx: int(n[0]), width: int(n[1]), height: int(n[2]), baseBytes: int(n[3]), patchBytes: n[4], baseTS: n[5], baseID: f[7]}, true
}

// logTail is what a node knows of the end of a sender's log in the stream:
// the sequence and the state of its last message.
type logTail struct {
	seq  uint64
	meta logMeta
	// local: a full frame of this sender reached this node's members only
	// (NATS was down), so the stream's log is not the sender's picture
	// any more: its patches are refused until a full frame is stored.
	local bool
}

// maxTails bounds the tails a node remembers (about 200 bytes each). One
// forgotten costs one read of the subject's last message at the next patch
// (or, for a local one, that patch applies to the log in the stream).
const maxTails = 1 << 14

// tailCache remembers the tails this node learnt: from its own publishes'
// acknowledgements and from the reads of PublishPatch. A tail may be stale
// (another node appended since): the expected sequence then fails the
// append, which reads the tail again.
type tailCache struct {
	mu  sync.Mutex               // guards everything below; a leaf lock
	m   map[string]*list.Element // subject → element of lru, of *tailEntry
	lru list.List                // least recently set at the front
}

type tailEntry struct {
	subject string
	tail    logTail
}

func (c *tailCache) get(subject string) (logTail, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[subject]; ok {
		return e.Value.(*tailEntry).tail, true
	}
	return logTail{}, false
}

// set records t: the newest end this node learnt (an append's
// acknowledgement, or a read), or a local one.
func (c *tailCache) set(subject string, t logTail) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*list.Element)
	}
	if e, ok := c.m[subject]; ok {
		e.Value.(*tailEntry).tail = t
		c.lru.MoveToBack(e)
		return
	}
	c.m[subject] = c.lru.PushBack(&tailEntry{subject: subject, tail: t})
	for len(c.m) > maxTails {
		f := c.lru.Front()
		c.lru.Remove(f)
		delete(c.m, f.Value.(*tailEntry).subject)
	}
}

func (c *tailCache) forget(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[subject]; ok {
		c.lru.Remove(e)
		delete(c.m, subject)
	}
}

// forgetRoom forgets the tails of room's subjects (ClearLayers).
func (c *tailCache) forgetRoom(room string) {
	prefix := subjectPrefix + escapeToken(room) + ".frame."
	c.mu.Lock()
	defer c.mu.Unlock()
	for s, e := range c.m {
		if strings.HasPrefix(s, prefix) {
			c.lru.Remove(e)
			delete(c.m, s)
		}
	}
}
