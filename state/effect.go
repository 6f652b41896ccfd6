package state

import (
	"fmt"
	"time"
)

// Effect is something the owner must do. Effects are pointers into buffers
// the node reuses: an effect, and the slices inside it that the node built,
// are valid until the next call to Step or Tick. Messages (*Message) are
// immutable and may be kept.
type Effect interface {
	fmt.Stringer
	effect()
}

// NodeState is what GetNodeState answers: our patterns, their hash, and
// every retained value we hold (clears included, as empty payloads).
type NodeState struct {
	Instance string
	Patterns []string // sorted, distinct
	Hash     uint64
	Retained []Envelope // sorted by topic
	// QueueGroups: live members per (pattern, group), sorted (groups.go).
	QueueGroups []GroupMembers
}

// ResendReply answers a resend request: the messages of the range still
// held, in order, and the lowest number still held for the topic (0: none).
type ResendReply struct {
	Instance       string
	Msgs           []Envelope
	FirstAvailable uint64
	FirstSent      uint64 // what a From of 0 resolved to: the first number sent to the caller; 0 unknown
	Latest         uint64 // the highest number ever given on the topic (an upper bound); 0 unknown
}

// SendBeacon: multicast (and unicast to seeds) a beacon with this hash.
// Leaving: it is the node's last, saying it is stopping (the Leaving
// event); the shell may send it a few times, each numbered as a beacon.
type SendBeacon struct {
	Hash    uint64
	Leaving bool
}

// FetchState: call GetNodeState on a peer; complete with FetchCompleted.
type FetchState struct {
	Call       uint64
	Peer, Addr string
}

// Probe: check directly that a suspected peer is alive; complete with
// ProbeCompleted. Move: Addr is a new address the peer is claimed at
// (admit.go): check that the instance answering there is Peer, without
// touching the connection to the address in use.
type Probe struct {
	Call       uint64
	Peer, Addr string
	Move       bool
}

// AddressConflict: a beacon claimed Peer, alive at Addr, at Claimed too.
// The node keeps Addr; the shell reports it (two processes share an id, or
// someone forges one).
type AddressConflict struct{ Peer, Addr, Claimed string }

// Push: send one message to a peer on its ordered stream, with Prev as its
// envelope's prev_source_sequence; complete with PushCompleted, or with
// PushesCompleted together with others that succeeded.
type Push struct {
	Call       uint64
	Peer, Addr string
	// Msg is not named (Node.named) for the push: a packed push carries
	// its number. Read its id with WireID (or Envelope), never Msg.ID,
	// which the node may write meanwhile for a v1 reader.
	Msg  *Message
	Prev uint64 // the previous number on Msg's topic sent to this peer; 0 = none
	// DroppedFrom..Prev were routed to this peer and dropped from its
	// backlog before they were sent, and we hold none of them: the peer
	// counts them lost without asking. 0: no such claim.
	DroppedFrom uint64
	SyncOnly    bool // a retained value the peer lacks, to store and not deliver
	// Groups: the queue groups we chose this peer for (groups.go).
	Groups []string
}

// Envelope returns the envelope to put on the wire for this push, its id
// rendered if the message has a number (WireID). Field by field: a copy
// of Msg's envelope whole would read its ID, which the node may write
// while a shell calls this (TestPushEnvelopeCopiesEveryField).
func (e *Push) Envelope() Envelope { return e.EnvelopeWithID(e.Msg.WireID()) }

// EnvelopeWithID is Envelope with id for its ID: the message's WireID as
// the caller rendered it (WireID hashes the source for each message; a
// shell pushing many of one source's messages keeps the prefix).
func (e *Push) EnvelopeWithID(id string) Envelope {
	m := e.Msg
	return Envelope{
		ID: id, Topic: m.Topic, Payload: m.Payload,
		TimestampMs: m.TimestampMs, Source: m.Source, TTLMs: m.TTLMs,
		SourceSeq: m.SourceSeq, PrevSeq: e.Prev, IDNum: m.IDNum, Retain: m.Retain, SyncOnly: e.SyncOnly,
		Extras: ExtrasOf(Extras{ContentType: m.ContentType(), Correlation: m.Correlation(), ReplyTo: m.ReplyTo(),
			QueueGroups: e.Groups, DroppedFrom: e.DroppedFrom}),
	}
}

// RequestResend: ask a source peer for its messages on Topic numbered
// From..To, From 0 meaning from the first it sent us; complete with
// ResendCompleted.
type RequestResend struct {
	Call       uint64
	Peer, Addr string
	Topic      string
	From, To   uint64
}

// ClosePeer: the peer is dead and removed; close its connections. Calls
// still under way must still be completed.
type ClosePeer struct{ Peer, Addr string }

// ReportGap says that numbers From..To of Source's messages on Topic were
// passed over here. Lost: they were sent to this node and are declared lost
// (Why says why); the topic's subscribers were warned and see their sequence
// numbers skip. Not lost: they were never meant for this node (Why: before
// the first sent to it, not sent to it, or on a topic it did not want).
// Nothing answers it; shells log and count it, the simulator checks it.
type ReportGap struct {
	Source, Topic string
	From, To      uint64
	Lost          bool
	Why           string
}

// AnswerState answers StateRequested.
type AnswerState struct {
	Req   uint64
	State *NodeState
}

// AnswerPush answers PushReceived. Errs is nil when every envelope was
// taken; otherwise it has one entry per envelope, nil for those taken.
type AnswerPush struct {
	Req  uint64
	Errs []error
}

// AnswerResend answers ResendRequested.
type AnswerResend struct {
	Req   uint64
	Reply ResendReply
}

// PublishResult is what a local publisher learns.
type PublishResult struct {
	MessageID   string
	Subscribers int // local subscriptions reached plus peers pushed to
	Dropped     int // subscriptions that dropped a message to take this one
	Blocked     int // subscriptions this publish had to wait for
}

// CompletePublish answers Published; Err set means nothing was published.
type CompletePublish struct {
	Req    uint64
	Result PublishResult
	Err    error
}

// CompletePublishRun answers the N publishes First, First+1, ... of a
// batch by number (PublishedBatch.ByNumber) that were published at once:
// a run of one topic's, in one effect instead of N CompletePublish. Their
// answers' ids and counts are left out, as a stream by number reads none.
type CompletePublishRun struct {
	First uint64
	N     int
}

// CompleteUnsubscribe answers Unsubscribed.
type CompleteUnsubscribe struct {
	Req      uint64
	PauseTTL time.Duration // how long a paused subscription is kept
	Err      error
}

// Deliver: send one event on a subscription stream. It used one credit.
//
// More, when above 0, makes it a run of live messages (deliver_run.go):
// Out.Msg and the More messages after it (At), sent in that order, each
// a credit.
type Deliver struct {
	Stream uint64
	Out    Out
	More   int
	slot   int // a run's: where Out.Msg is in its slab
	bytes  int // a run's: its payload and topic bytes, all told
}

// ReleaseFrame gives back a PublishedBatch's Frame: nothing the node
// holds reads its bytes any longer. Recycle: nothing else does either, so
// the shell may use its memory again; false when a message in it went
// where the node does not count its readers (a retained value, a stream
// that ended before it reported sending it...): the memory is then left
// to the collector.
type ReleaseFrame struct {
	Frame   any
	Recycle bool
}

func (e *ReleaseFrame) String() string { return fmt.Sprintf("release-frame recycle=%t", e.Recycle) }

// EndStream: finish a subscription stream; Err says why when it is a
// refusal (unknown subscription on resume, bad pattern...).
type EndStream struct {
	Stream uint64
	Err    error
}

func (*SendBeacon) effect()          {}
func (*FetchState) effect()          {}
func (*Probe) effect()               {}
func (*Push) effect()                {}
func (*RequestResend) effect()       {}
func (*ClosePeer) effect()           {}
func (*AddressConflict) effect()     {}
func (*ReportGap) effect()           {}
func (*AnswerState) effect()         {}
func (*AnswerPush) effect()          {}
func (*AnswerResend) effect()        {}
func (*CompletePublish) effect()     {}
func (*CompletePublishRun) effect()  {}
func (*CompleteUnsubscribe) effect() {}
func (*Deliver) effect()             {}
func (*EndStream) effect()           {}
func (*ReleaseFrame) effect()        {}

func (e *SendBeacon) String() string {
	if e.Leaving {
		return fmt.Sprintf("send-beacon hash=%016x leaving", e.Hash)
	}
	return fmt.Sprintf("send-beacon hash=%016x", e.Hash)
}
func (e *FetchState) String() string {
	return fmt.Sprintf("fetch call=%d peer=%s", e.Call, short(e.Peer))
}
func (e *Probe) String() string {
	if e.Move {
		return fmt.Sprintf("probe call=%d peer=%s at=%s (claimed move)", e.Call, short(e.Peer), e.Addr)
	}
	return fmt.Sprintf("probe call=%d peer=%s", e.Call, short(e.Peer))
}
func (e *AddressConflict) String() string {
	return fmt.Sprintf("address-conflict peer=%s at=%s claimed=%s", short(e.Peer), e.Addr, e.Claimed)
}
func (e *Push) String() string {
	env := e.Envelope()
	return fmt.Sprintf("push call=%d peer=%s %s", e.Call, short(e.Peer), env.String())
}
func (e *ClosePeer) String() string { return fmt.Sprintf("close-peer peer=%s", short(e.Peer)) }
func (e *ReportGap) String() string {
	kind := "skipped"
	if e.Lost {
		kind = "lost"
	}
	return fmt.Sprintf("gap %s from=%s %s#%d..%d (%s)", kind, short(e.Source), e.Topic, e.From, e.To, e.Why)
}
func (e *AnswerState) String() string {
	return fmt.Sprintf("answer-state req=%d hash=%016x", e.Req, e.State.Hash)
}
func (e *Deliver) String() string {
	if e.More > 0 {
		return fmt.Sprintf("deliver stream=%d %s and %d more", e.Stream, e.Out.String(), e.More)
	}
	return fmt.Sprintf("deliver stream=%d %s", e.Stream, e.Out.String())
}
func (e *EndStream) String() string {
	return fmt.Sprintf("end-stream stream=%d%s", e.Stream, errSuffix(e.Err))
}
func (e *RequestResend) String() string {
	return fmt.Sprintf("resend call=%d peer=%s %s#%d..%d", e.Call, short(e.Peer), e.Topic, e.From, e.To)
}

func (e *AnswerPush) String() string {
	bad := 0
	for _, err := range e.Errs {
		if err != nil {
			bad++
		}
	}
	return fmt.Sprintf("answer-push req=%d refused=%d", e.Req, bad)
}

func (e *AnswerResend) String() string {
	return fmt.Sprintf("answer-resend req=%d msgs=%d first=%d", e.Req, len(e.Reply.Msgs), e.Reply.FirstAvailable)
}

func (e *CompletePublish) String() string {
	if e.Err != nil {
		return fmt.Sprintf("publish-done req=%d err=%q", e.Req, e.Err.Error())
	}
	r := &e.Result
	return fmt.Sprintf("publish-done req=%d id=%s subscribers=%d dropped=%d blocked=%d", e.Req, short(r.MessageID), r.Subscribers, r.Dropped, r.Blocked)
}

func (e *CompletePublishRun) String() string {
	return fmt.Sprintf("publish-done reqs=%d..%d", e.First, e.First+uint64(e.N)-1)
}

func (e *CompleteUnsubscribe) String() string {
	if e.Err != nil {
		return fmt.Sprintf("unsubscribe-done req=%d err=%q", e.Req, e.Err.Error())
	}
	return fmt.Sprintf("unsubscribe-done req=%d pause-ttl=%s", e.Req, fmtDur(e.PauseTTL))
}
