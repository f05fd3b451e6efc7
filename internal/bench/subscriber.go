package bench

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/client"
)

// subGroup is a share of the subscribers: those that ask for one rendition,
// or those on one node of a cluster.
type subGroup struct {
	name string
	base string    // ws://host:port of the node they dial; "" is the target's
	rend *rendSpec // the rendition they ask for; nil is the original
}

// subscriber is one fast subscriber and what it received.
type subscriber struct {
	// Static after dial.
	conn    subConn
	rend    *rendSpec       // the rendition it asked for, nil for the original
	byOrder bool            // number frames by arrival (the floor sends no frame events)
	limit   int             // record at most this many frames
	moved   chan<- struct{} // poked when maxSeq rises (cap 1, shared)
	done    chan struct{}   // closed when the reader has stopped

	// Owned by the reader until done is closed.
	n        int64 // frames received
	bad      int   // frames that do not match rend
	badMsg   string
	dups     int    // frames with the seq of the newest one before (received twice)
	late     int    // frames with a seq below the newest one before (out of order, or an older duplicate)
	firstOdd string // the first of either
	seqs     []int64
	at       []time.Time
	bytes    int64

	maxSeq atomic.Int64
}

// subConn is a subscriber's connection: the project's client, or the
// bench's lite reader.
type subConn interface {
	Close() error
	// Dropped counts frames dropped inside the reader (it was too slow).
	Dropped() uint64
}

// record notes one received frame: its seq (from the frame event, or its
// order when frames come without events, as from the floor), its size and
// when it arrived.
func (s *subscriber) record(info client.FrameInfo, size int, at time.Time) {
	s.n++
	seq := info.Seq
	if s.byOrder || info.Format == "" {
		seq = s.n
	}
	s.bytes += int64(size)
	if s.rend != nil {
		if msg := s.rend.mismatch(info); msg != "" {
			if s.bad == 0 {
				s.badMsg = msg
			}
			s.bad++
		}
	}
	if len(s.seqs) < s.limit {
		s.seqs = append(s.seqs, seq)
		s.at = append(s.at, at)
	}
	switch newest := s.maxSeq.Load(); {
	case seq > newest:
		s.maxSeq.Store(seq)
		select {
		case s.moved <- struct{}{}:
		default:
		}
	case seq == newest:
		s.dups++
		if s.firstOdd == "" {
			s.firstOdd = fmt.Sprintf("seq %d twice", seq)
		}
	default:
		s.late++
		if s.firstOdd == "" {
			s.firstOdd = fmt.Sprintf("seq %d after seq %d", seq, newest)
		}
	}
}

// GroupStat is what one share of the subscribers received.
type GroupStat struct {
	Name          string  `json:"name"`
	Subscribers   int     `json:"subscribers"`
	Frames        int     `json:"frames"`
	Mismatched    int     `json:"mismatched,omitempty"` // frames not in the rendition asked for
	Duplicates    int     `json:"duplicates,omitempty"`
	OutOfOrder    int     `json:"out_of_order,omitempty"`
	FirstMismatch string  `json:"first_mismatch,omitempty"`
	Latency       Latency `json:"latency"`

	lat []time.Duration
}

func newGroupStats(groups []subGroup) []GroupStat {
	if len(groups) == 0 {
		return nil
	}
	out := make([]GroupStat, len(groups))
	for i, g := range groups {
		out[i].Name = g.name
	}
	return out
}

func hasRends(groups []subGroup) bool {
	for _, g := range groups {
		if g.rend != nil {
			return true
		}
	}
	return false
}
