package relay

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// Identity: a client id owns things (a layer, a game seat, the word while
// its owner draws), so nobody may take an id in use just by naming it.
//
// Every hello carries resume, a proof of ownership of hello.client:
//
//	resume = base64url(HMAC-SHA256(identityKey, "canvasrelay/resume/v1\x00" + client))   43 characters
//
// It is the same for every connection of that id on every node, for the
// life of the identity key. The upgrade grants a requested client (see
// grantClient):
//
//	token with sub            → sub (the token binds the id)
//	resume matches client     → client
//	client holds nothing      → client
//	anything else, or a lookup error (fail closed) → a fresh random id
//
// "Holds" is scoped to the room being joined, cluster-wide, because
// everything an id owns lives in one room: Broker.ClientHolds (an open
// connection to the room on any node, a retained layer in the room) and a
// seat in the room's game (SeatHolder; a game refereed on another node is
// asked there through the broker, SeatAsker). The same id in use in another room
// holds nothing here; it still gets one resume for every room.
//
// The identity key is derived from Config.AuthSecret when set (HMAC with a
// label of its own, so it differs from the token key); otherwise it is
// random per node, and a broker that spans nodes (IdentityKeySharer) makes
// every node use the first node's key.

// ResumeMaxLen is the longest resume the relay reads; longer ones never
// match.
const ResumeMaxLen = wire.MaxResumeLen

const (
	resumeLabel      = "canvasrelay/resume/v1\x00"
	identityKeyLabel = "canvasrelay/identity-key/v1"
	identityKeyLen   = 32
)

// IdentityKeySharer is implemented by brokers that span nodes: it returns
// the cluster's identity key, storing proposed as that key if the cluster
// has none yet (create-if-absent), so that every node uses the same one.
type IdentityKeySharer interface {
	SharedIdentityKey(ctx context.Context, proposed []byte) ([]byte, error)
}

// SeatHolder is implemented by games that can tell whether a client holds
// a seat in the room's running game (a player, leavers included). It must
// not block on the network: when the answer lives on another node (the
// game is refereed there), it returns ErrSeatsUnknown, and the relay asks
// that node through the broker (SeatAsker).
type SeatHolder interface {
	HoldsSeat(ctx context.Context, client string) (bool, error)
}

// ErrSeatsUnknown is a SeatHolder's answer when this node cannot tell: the
// room's game, if any, is refereed on another node.
var ErrSeatsUnknown = errors.New("relay: the game's seats are known on another node")

// SeatAsker is implemented by brokers that span nodes, so that a node
// learns a game seat from the node that referees the room's game.
type SeatAsker interface {
	// AskSeat reports whether client holds a seat in the game that runs in
	// room on any node (false when none runs), asking the refereeing node.
	AskSeat(ctx context.Context, room, client string) (bool, error)
	// ServeSeats sets how this node answers other nodes' AskSeat: answer
	// must not block on the network.
	ServeSeats(answer func(ctx context.Context, room, client string) (bool, error))
}

// identityKey returns the server's identity key, as the package comment
// says. It runs once, in New.
func identityKey(cfg Config, b Broker) ([]byte, error) {
	if len(cfg.AuthSecret) > 0 {
		m := hmac.New(sha256.New, cfg.AuthSecret)
		m.Write([]byte(identityKeyLabel))
		return m.Sum(nil), nil
	}
	key := make([]byte, identityKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("relay: identity key: %w", err)
	}
	if sh, ok := b.(IdentityKeySharer); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shared, err := sh.SharedIdentityKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("relay: shared identity key: %w", err)
		}
		if len(shared) < 16 {
			return nil, fmt.Errorf("relay: shared identity key: %d bytes, want at least 16", len(shared))
		}
		key = shared
	}
	return key, nil
}

// resumeFor is the resume of client.
func (s *Server) resumeFor(client string) string {
	m := hmac.New(sha256.New, s.idKey)
	m.Write([]byte(resumeLabel))
	m.Write([]byte(client))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// resumeMatches reports, in constant time, whether resume proves client.
func (s *Server) resumeMatches(client, resume string) bool {
	if resume == "" || len(resume) > ResumeMaxLen {
		return false
	}
	return hmac.Equal([]byte(s.resumeFor(client)), []byte(resume))
}

// grant is the outcome of grantClient, for metrics.
const (
	grantFresh   = "fresh"   // no client asked: a fresh id
	grantFree    = "free"    // asked, and it held nothing
	grantResume  = "resume"  // asked, held, proven by resume
	grantToken   = "token"   // the token's sub
	grantRefused = "refused" // asked, held, not proven: a fresh id
	grantError   = "error"   // the lookup failed: a fresh id (fail closed)
)

// grantClient decides the client id of a connection to rm that asked for
// asked (may be "") with resume, under a token whose subject is sub (may
// be ""), and reserves it on this node until releaseClient. It never
// fails: what cannot be granted becomes a fresh id. It returns the id and
// how it was granted.
func (s *Server) grantClient(ctx context.Context, rm *room, asked, resume, sub string) (string, string) {
	client, how := sub, grantToken
	switch {
	case sub != "":
	case asked == "":
		client, how = "", grantFresh
	case s.resumeMatches(asked, resume):
		client, how = asked, grantResume
	default:
		held, err := s.clientHolds(ctx, rm, asked)
		switch {
		case err != nil:
			s.log.Warn("client id lookup failed: giving a fresh id", "room", rm.name, "err", err)
			client, how = "", grantError
		case held:
			client, how = "", grantRefused
		default:
			client, how = asked, grantFree
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if how == grantFree && s.byClient[clientKey(rm, client)] > 0 {
		// Taken on this node while the broker was asked.
		client, how = "", grantRefused
	}
	for client == "" || (how != grantResume && how != grantToken && s.byClient[clientKey(rm, client)] > 0) {
		client = randomID(10)
	}
	s.byClient[clientKey(rm, client)]++
	return client, how
}

// releaseClient gives back what grantClient reserved.
func (s *Server) releaseClient(rm *room, client string) {
	k := clientKey(rm, client)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byClient[k]--; s.byClient[k] <= 0 {
		delete(s.byClient, k)
	}
}

// clientKey is the key of client in rm in Server.byClient.
func clientKey(rm *room, client string) string { return rm.name + "\x00" + client }

// clientHolds reports whether client holds anything in rm: a connection
// (or a granted upgrade) on this node, a game seat, or what the broker
// keeps for it (a connection on any node, a layer).
func (s *Server) clientHolds(ctx context.Context, rm *room, client string) (bool, error) {
	s.mu.Lock()
	local := s.byClient[clientKey(rm, client)] > 0
	s.mu.Unlock()
	if local {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.IdentityLookupTimeout)
	defer cancel()
	if sh, ok := rm.game.(SeatHolder); ok {
		seat, err := sh.HoldsSeat(ctx, client)
		if errors.Is(err, ErrSeatsUnknown) {
			if sa, ok := s.broker.(SeatAsker); ok {
				seat, err = sa.AskSeat(ctx, rm.name, client)
			}
		}
		if err != nil || seat {
			return true, err
		}
	}
	return s.broker.ClientHolds(ctx, rm.name, client)
}

// answerSeat answers another node's SeatAsker.AskSeat from this node's
// game of room: only the local game, never the network.
func (s *Server) answerSeat(ctx context.Context, room, client string) (bool, error) {
	s.mu.Lock()
	rm := s.rooms[room]
	s.mu.Unlock()
	if rm == nil {
		return false, ErrSeatsUnknown
	}
	sh, ok := rm.game.(SeatHolder)
	if !ok {
		return false, ErrSeatsUnknown
	}
	return sh.HoldsSeat(ctx, client)
}
