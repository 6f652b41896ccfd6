package state

import (
	"fmt"
	"strings"

	"github.com/nexusd/nexusd/internal/packed"
)

// Envelope is a message as it travels between nodes (the mesh's
// MessageEnvelope, without the proto).
type Envelope struct {
	ID          string // "" while a message numbered by IDNum is not named yet (MessageID)
	Topic       string
	Payload     []byte
	TimestampMs int64  // wall clock of the publishing node at publish
	Source      string // instance id of the publishing node
	TTLMs       int64  // 0: the receiving node's default applies
	SourceSeq   uint64 // the source's own per-topic number; 0 = unnumbered
	PrevSeq     uint64 // the number of the previous message on the topic the source sent to this receiver; 0 = none

	// IDNum, when not 0, is the number ID is derived from: ID is
	// packed.DeriveID(Source, 0, IDNum). It spares a shell reading the
	// number back out of ID to write a packed record, and the dedup
	// window reading it to remember a remote message (dedup.go); a shell
	// sets it only for an id it derived from that number. A message the
	// node publishes, or one a peer pushed in a packed frame, may carry
	// only IDNum, its ID rendered when something needs it (Node.named); a
	// stream by number (Subscribed.ByNumber) reads IDNum alone.
	IDNum uint64

	// Extras holds the fields most messages leave unset (extras.go); nil
	// when the envelope sets none of them. Read them through the methods
	// of the same names.
	Extras *Extras

	Retain   bool
	SyncOnly bool // replicates a retained value only: store it, deliver it to no one
}

// MessageID is the message's id: ID, or when that is not rendered yet
// (Node.named), the id IDNum derives from Source. It renders the id anew
// each time; the node renders its own once.
func (e *Envelope) MessageID() string {
	if e.ID == "" && e.IDNum != 0 {
		return packed.DeriveID(e.Source, 0, e.IDNum).String()
	}
	return e.ID
}

// WireID is the message's id as a peer sees it: the one IDNum derives
// from Source when IDNum is set, else ID. Unlike MessageID it never reads
// ID when IDNum is set. The node names its messages (Node.named) on its
// own goroutine whenever a reader of the string first needs it, so a
// shell holding a pushed message, which the node does not name, reads its
// id this way.
func (e *Envelope) WireID() string {
	if e.IDNum != 0 {
		return packed.DeriveID(e.Source, 0, e.IDNum).String()
	}
	return e.ID
}

func (e *Envelope) String() string {
	s := fmt.Sprintf("%s#%d from=%s id=%s %dB", e.Topic, e.SourceSeq, short(e.Source), short(e.MessageID()), len(e.Payload))
	if e.PrevSeq > 0 {
		s += fmt.Sprintf(" prev=%d", e.PrevSeq)
	}
	if e.SyncOnly {
		s += " sync-only"
	}
	if g := e.QueueGroups(); len(g) > 0 {
		s += " groups=" + strings.Join(g, ",")
	}
	return s
}

// Message is an Envelope as one node holds it: numbered for its topic on
// this node, and linked into the node's replay buffer. Its fields are
// written once, before any effect hands it out, and never again, so a shell
// may read it from any goroutine; the links are the node's own.
type Message struct {
	Envelope
	Seq       uint64 // this node's delivery sequence for the topic; 0 = not numbered here
	ExpiresMs int64  // wall clock after which it is never handed out; 0 = never

	// replay buffer links (buffer.go)
	topic            *topicState
	index            uint64 // arrival order on this node
	bufPrev, bufNext *Message

	picks *[]groupPick // our own message: the peers chosen for queue groups (nil: none)

	slab *msgSlab // made in a slab the node uses again (slab.go); nil: the collector's
}

// expired reports whether m's TTL has run out at wall time nowMs.
func (m *Message) expired(nowMs int64) bool { return m.ExpiresMs != 0 && nowMs >= m.ExpiresMs }

// short abbreviates ids in one-line text forms.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
