package state

import (
	"fmt"
	"strings"
	"time"
)

// Event is something that happened, handed to Node.Step. Events are
// pointers; the node reads them during Step and keeps none of them, only
// the slices and strings inside.
type Event interface {
	fmt.Stringer
	event()
}

// Beacon is one decoded discovery datagram. The shell fills Addr with the
// peer's mesh endpoint: the advertised rpc_ip:rpc_port, or the datagram's
// source address when rpc_ip is empty or unspecified.
//
// Member says the beacon proved its sender holds the cluster key: the shell
// checked its tag (docs/protocol.md §10.2). Epoch and Counter are its (boot epoch,
// counter) pair, which only grows for one instance: a member's beacon whose
// pair is not above the last one taken from that instance is a replay.
type Beacon struct {
	Instance string
	Cluster  string
	Addr     string
	Hash     uint64
	Version  int32
	WallMs   int64
	Member   bool
	Epoch    uint64
	Counter  uint64
	// Leaving: the sender is stopping and says so; peers remove it at once
	// (reason "left") instead of waiting for it to fall silent.
	Leaving bool
}

// BeaconReceived: a beacon arrived (multicast or unicast).
type BeaconReceived struct{ Beacon Beacon }

// Leaving: the daemon is stopping. The node announces it (SendBeacon with
// Leaving set), so peers drop it at once, and sends no beacon after it.
type Leaving struct{}

// LeaveNoticed: a peer called Leave on the mesh, saying it is stopping (the
// mesh notice beside its leave beacon). Instance is the instance the notice
// names, From the caller's address (ip:port of its connection). It removes
// that peer as its leave beacon would, if it is known at From's host.
type LeaveNoticed struct {
	Instance string
	From     string
}

// FetchCompleted completes a FetchState effect.
type FetchCompleted struct {
	Call  uint64
	State *NodeState // nil when Err is set
	Err   error
}

// ProbeCompleted completes a Probe effect; Err nil means the peer answered.
type ProbeCompleted struct {
	Call uint64
	Err  error
}

// PushCompleted completes a Push effect. Err nil means the peer has it;
// Err set means it may not, and the node pushes it again. A peer that
// refused the message for good (it would refuse it again) counts as done:
// complete with Err nil, and the receiver's numbering reports the loss.
type PushCompleted struct {
	Call uint64
	Err  error
}

// PushesCompleted completes several Push effects, each without error,
// exactly as one PushCompleted{Call: c} for each c of Calls in turn
// would: what one answer on a push stream counts, for one Step instead of
// one a message. Calls is the node's until Step returns.
type PushesCompleted struct {
	Calls []uint64
}

// ResendCompleted completes a RequestResend effect.
type ResendCompleted struct {
	Call  uint64
	Reply *ResendReply // nil when Err is set
	Err   error
}

// StateRequested: a peer called GetNodeState; answer with AnswerState.
type StateRequested struct{ Req uint64 }

// PushReceived: a peer pushed messages (one unary push, or a batch from its
// stream); answer with AnswerPush.
type PushReceived struct {
	Req      uint64
	From     string // the pushing peer's address, for logs only
	Envs     []Envelope
	SentAtMs int64 // the sender's wall clock when it sent them; 0: not given
	// Borrowed: the payloads are the shell's, valid only during this
	// Step, as a PublishedBatch's can be: the node copies those it keeps.
	Borrowed bool
	// Frame and FrameBytes lend the node the frame the payloads lie in,
	// as a PublishedBatch's do.
	Frame      any
	FrameBytes int
}

// ResendRequested: a peer asks for our own messages on Topic numbered
// From..To (inclusive); From 0 means "from the first I sent you".
// Answer with AnswerResend.
type ResendRequested struct {
	Req       uint64
	Source    string // the instance the caller expects us to be
	Requester string // the caller's instance id
	Topic     string
	From, To  uint64
}

// Published: a local application publishes; answered by CompletePublish,
// now or (Block policy) later.
type Published struct {
	Req     uint64
	Topic   string
	Payload []byte
	TTLMs   int64
	// Extras are the publish's content type, correlation id and reply-to
	// ("" or an inbox topic, inbox.go), nil when it sets none. The message
	// the node makes shares them, so they are not changed afterwards.
	// Queue groups and a dropped-from claim are the mesh's: a publish
	// that sets them is refused.
	Extras *Extras
	Retain bool
}

// PublishedBatch: a local application published these, in this order (one
// PublishStream frame). Each is answered by its own CompletePublish, and
// the effects are those of stepping each as a Published, in the same
// order; the node routes each run of consecutive publishes to one topic
// together (run.go), so a frame of one topic costs one topic check, one
// lookup and one route match instead of one per message.
type PublishedBatch struct {
	Pubs []Published
	// ByNumber: the publisher is answered without message ids (a packed
	// stream's acks count records), so the node need not render the ids
	// of what it publishes for the answers (Node.named).
	ByNumber bool
	// Borrowed: the payloads are the shell's, valid only during this
	// Step; the node copies those it keeps, into the slab of a run it
	// counts (slab.go), so a packed frame's payloads are copied once.
	Borrowed bool
	// Frame, when set with Borrowed, is the shell's handle on the frame
	// the payloads lie in, FrameBytes its size: the shell keeps it valid
	// until the node gives it back with a ReleaseFrame, exactly once for
	// the batch, in this Step or a later one. The node then keeps the
	// payloads of the messages it makes in counted slabs where they are,
	// instead of copying them (frames.go).
	Frame      any
	FrameBytes int
}

// PolicyDefault in a subscription request means "the node's default".
const PolicyDefault Policy = 255

// Subscribed: a local application opened a subscription stream. Its first
// effect is a Deliver of the subscription info, or EndStream with an error.
type Subscribed struct {
	Stream          uint64 // the shell's handle for the stream; unique while open
	Patterns        []string
	ClientID        string
	ReceiveRetained bool
	QueueLimit      int    // 0 = the node's default; larger values are capped to it
	Policy          Policy // PolicyDefault = the node's default
	Credit          int    // stream events the shell can take right now
	CreditBytes     int    // and payload plus topic bytes; 0 = not counted in bytes
	// ResumeWindow: when the stream closes without Unsubscribed (the
	// client's connection broke), keep the subscription paused this long
	// (at most PausedTTL) for the client to resume by id. 0: remove it.
	ResumeWindow time.Duration
	// Group: a queue group (groups.go); "" for an ordinary subscription.
	Group string
	// ByNumber: the stream names messages by (source, number), as a
	// packed stream does (Envelope.IDNum), so the node need not render
	// the ids of its own messages for it (Node.named).
	ByNumber bool
	// ReportsSent: the shell says in CreditGranted.Sent how many of the
	// events handed out it has sent, in order, and holds none of their
	// messages after; the node then uses those messages' memory again
	// (slab.go). Without it, what the stream is handed is never reused.
	ReportsSent bool
}

// Recovery says how a resumed subscription catches up.
type Recovery uint8

const (
	RecoverNone     Recovery = iota // go on live only
	RecoverRetained                 // send each matching retained value, then live
	RecoverReplay                   // replay the ring after the given sequences, then live
)

var recoveryNames = [...]string{"none", "retained", "replay"}

func (r Recovery) String() string {
	if int(r) < len(recoveryNames) {
		return recoveryNames[r]
	}
	return fmt.Sprintf("recovery(%d)", r)
}

// Resumed: a local application resumes a subscription on a new stream.
// With an empty SubID and Patterns given, it starts a new subscription that
// catches up from LastSeq as a resume would.
type Resumed struct {
	Stream          uint64
	SubID           string
	Patterns        []string // empty: the subscription's own
	LastSeq         map[string]uint64
	Mode            Recovery
	ReceiveRetained bool
	Credit          int
	CreditBytes     int // as in Subscribed
	// For a new subscription by topics (SubID empty); one resumed by id
	// keeps its own.
	ClientID   string
	QueueLimit int
	Policy     Policy
	// As Subscribed's; resuming by id, 0 keeps the subscription's own.
	ResumeWindow time.Duration
	ByNumber     bool // as Subscribed's, for the new stream
	ReportsSent  bool // as Subscribed's, for the new stream
}

// Unsubscribed: a local application ends (or, with Pause, pauses) a
// subscription; answered by CompleteUnsubscribe.
type Unsubscribed struct {
	Req   uint64
	SubID string
	Pause bool
}

// CreditGranted: the shell can take N more events on Stream, and Bytes
// more payload and topic bytes (for a stream opened with CreditBytes).
// On a stream opened with ReportsSent, Sent says how many more of the
// events handed out on it, the oldest first, the shell has sent and holds
// nothing of.
type CreditGranted struct {
	Stream uint64
	N      int
	Bytes  int
	Sent   int
}

// StreamClosed: the stream ended on the shell's side (client gone).
type StreamClosed struct{ Stream uint64 }

func (*BeaconReceived) event()  {}
func (*Leaving) event()         {}
func (*LeaveNoticed) event()    {}
func (*FetchCompleted) event()  {}
func (*ProbeCompleted) event()  {}
func (*PushCompleted) event()   {}
func (*PushesCompleted) event() {}
func (*ResendCompleted) event() {}
func (*StateRequested) event()  {}
func (*PushReceived) event()    {}
func (*ResendRequested) event() {}
func (*Published) event()       {}
func (*PublishedBatch) event()  {}
func (*Subscribed) event()      {}
func (*Resumed) event()         {}
func (*Unsubscribed) event()    {}
func (*CreditGranted) event()   {}
func (*StreamClosed) event()    {}

func (e *BeaconReceived) String() string {
	b := &e.Beacon
	s := fmt.Sprintf("beacon from=%s cluster=%s hash=%016x v=%d", short(b.Instance), b.Cluster, b.Hash, b.Version)
	if b.Leaving {
		s += " leaving"
	}
	return s
}

func (*Leaving) String() string { return "leaving" }

func (e *LeaveNoticed) String() string {
	return fmt.Sprintf("leave-notice instance=%s from=%s", short(e.Instance), e.From)
}

func (e *FetchCompleted) String() string {
	if e.Err != nil {
		return fmt.Sprintf("fetch-result call=%d err=%q", e.Call, e.Err)
	}
	if e.State == nil {
		return fmt.Sprintf("fetch-result call=%d no-state", e.Call)
	}
	return fmt.Sprintf("fetch-result call=%d hash=%016x patterns=%d retained=%d", e.Call, e.State.Hash, len(e.State.Patterns), len(e.State.Retained))
}

func (e *ProbeCompleted) String() string {
	return fmt.Sprintf("probe-result call=%d%s", e.Call, errSuffix(e.Err))
}
func (e *PushCompleted) String() string {
	return fmt.Sprintf("push-result call=%d%s", e.Call, errSuffix(e.Err))
}
func (e *PushesCompleted) String() string {
	if len(e.Calls) == 0 {
		return "push-results none"
	}
	return fmt.Sprintf("push-results calls=%d first=%d", len(e.Calls), e.Calls[0])
}
func (e *StateRequested) String() string { return fmt.Sprintf("state-request req=%d", e.Req) }
func (e *CreditGranted) String() string  { return fmt.Sprintf("credit stream=%d n=%d", e.Stream, e.N) }
func (e *StreamClosed) String() string   { return fmt.Sprintf("stream-closed stream=%d", e.Stream) }
func (e *ResendRequested) String() string {
	return fmt.Sprintf("resend-request req=%d %s#%d..%d", e.Req, e.Topic, e.From, e.To)
}

func (e *ResendCompleted) String() string {
	if e.Err != nil || e.Reply == nil {
		return fmt.Sprintf("resend-result call=%d%s", e.Call, errSuffix(e.Err))
	}
	return fmt.Sprintf("resend-result call=%d msgs=%d first=%d", e.Call, len(e.Reply.Msgs), e.Reply.FirstAvailable)
}

func (e *PushReceived) String() string {
	if len(e.Envs) == 1 {
		return fmt.Sprintf("push-in req=%d %s", e.Req, e.Envs[0].String())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "push-in req=%d msgs=%d:", e.Req, len(e.Envs))
	for i := range min(len(e.Envs), 8) {
		b.WriteString(" ")
		b.WriteString(e.Envs[i].String())
		b.WriteString(";")
	}
	if len(e.Envs) > 8 {
		b.WriteString(" ...")
	}
	return b.String()
}

func (e *Published) String() string {
	s := fmt.Sprintf("publish req=%d %s %dB", e.Req, e.Topic, len(e.Payload))
	if e.Retain {
		s += " retain"
	}
	if e.TTLMs != 0 {
		s += fmt.Sprintf(" ttl=%dms", e.TTLMs)
	}
	return s
}

func (e *PublishedBatch) String() string {
	if len(e.Pubs) == 0 {
		return "publish-batch n=0"
	}
	first, last := &e.Pubs[0], &e.Pubs[len(e.Pubs)-1]
	return fmt.Sprintf("publish-batch n=%d req=%d..%d %s..%s", len(e.Pubs), first.Req, last.Req, first.Topic, last.Topic)
}

func (e *Subscribed) String() string {
	if e.Group != "" {
		return fmt.Sprintf("subscribe stream=%d %s credit=%d group=%s", e.Stream, strings.Join(e.Patterns, ","), e.Credit, e.Group)
	}
	return fmt.Sprintf("subscribe stream=%d %s credit=%d", e.Stream, strings.Join(e.Patterns, ","), e.Credit)
}

func (e *Resumed) String() string {
	return fmt.Sprintf("resume stream=%d sub=%s mode=%s topics=%d", e.Stream, short(e.SubID), e.Mode, len(e.LastSeq))
}

func (e *Unsubscribed) String() string {
	if e.Pause {
		return fmt.Sprintf("unsubscribe req=%d sub=%s pause", e.Req, short(e.SubID))
	}
	return fmt.Sprintf("unsubscribe req=%d sub=%s", e.Req, short(e.SubID))
}

func errSuffix(err error) string {
	if err == nil {
		return " ok"
	}
	return fmt.Sprintf(" err=%q", err.Error())
}
