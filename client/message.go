package client

import (
	"fmt"
	"time"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Kind says how a message reached a subscription.
type Kind int

const (
	// Live: published while the subscription was listening.
	Live Kind = iota
	// Retained: the topic's retained value, sent when the subscription
	// opened (ReceiveRetained) or after the daemon restarted.
	Retained
	// Replayed: missed while the subscription was paused or reconnecting,
	// and replayed from the daemon's ring.
	Replayed
)

func (k Kind) String() string {
	switch k {
	case Live:
		return "live"
	case Retained:
		return "retained"
	case Replayed:
		return "replayed"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Message is one message delivered to a subscription. It is the
// application's: nothing in the client writes to it or to its payload
// after delivering it. Messages of one packed frame share memory (see
// "Packed frames" in the package documentation): their Payloads are
// slices of the frame, capped at their length, so keeping one keeps the
// frame reachable. A subscription opened with BorrowPayloads lends its
// live messages instead: such a message is the client's again once the
// application calls Release.
type Message struct {
	ID            string    // unique id the source daemon gave it (a UUID)
	Topic         string    // the topic it was published to
	Payload       []byte    // the application's bytes
	ContentType   string    // as the publisher gave it, if any
	CorrelationID string    // as the publisher gave it, if any
	ReplyTo       string    // where a reply goes (Reply sends it there); "" when none
	Timestamp     time.Time // publish time on the source daemon's clock (millisecond resolution)
	Source        string    // instance id of the daemon it was published on
	Sequence      int64     // this daemon's number for it within its topic: 1, 2, 3...
	Kind          Kind      // live, retained or replayed

	lease *lease // what a lent message is part of (BorrowPayloads); nil: the application's
}

func messageFromProto(m *sidecarpb.Message, k Kind) *Message {
	return &Message{
		ID:            m.GetMessageId(),
		Topic:         m.GetTopic(),
		Payload:       m.GetPayload(),
		ContentType:   m.GetContentType(),
		CorrelationID: m.GetCorrelationId(),
		ReplyTo:       m.GetReplyTo(),
		Timestamp:     time.UnixMilli(m.GetTimestampMs()),
		Source:        m.GetSourceNodeId(),
		Sequence:      m.GetSequenceNumber(),
		Kind:          k,
	}
}

// GapCause says how a gap was found.
type GapCause int

const (
	// GapSequence: the sequence numbers of a topic skipped: the daemon
	// dropped messages from a full queue, they expired, or they were lost
	// between daemons (the backpressure warning says which).
	GapSequence GapCause = iota
	// GapResume: on resume the daemon reported messages it could no
	// longer replay (evicted from its ring, or expired). Each missed
	// message is reported once: with its topic and numbers where the
	// replay shows them, and the rest (topics this client had not seen)
	// in one gap with an empty Topic when live messages begin.
	GapResume
	// GapRestart: the daemon restarted (or forgot the topic), so its
	// numbering started over; how much was missed is unknown.
	GapRestart
)

func (g GapCause) String() string {
	switch g {
	case GapSequence:
		return "sequence"
	case GapResume:
		return "resume"
	case GapRestart:
		return "restart"
	}
	return fmt.Sprintf("GapCause(%d)", int(g))
}

// Gap is a run of messages a subscription will never receive.
type Gap struct {
	Subscription string   // the daemon's id of the subscription
	Topic        string   // the topic; "" when unknown (some GapResume gaps)
	Expected     int64    // the sequence number that should have come next; 0 if unknown
	Received     int64    // the sequence number that came instead; 0 if none has come yet
	Missed       int64    // how many messages were lost; -1 when unknown
	Cause        GapCause // how the gap was found
}

func (g Gap) String() string {
	topic := g.Topic
	if topic == "" {
		topic = "(topics not given)"
	}
	missed := fmt.Sprint(g.Missed)
	if g.Missed < 0 {
		missed = "unknown"
	}
	return fmt.Sprintf("gap on %s: expected %d, received %d, missed %s (%s)", topic, g.Expected, g.Received, missed, g.Cause)
}

// BackpressureWarning reports messages a subscription lost in the daemon:
// dropped from its full queue, expired before delivery, or lost between
// daemons. The daemon sends it at most once a second while losing.
type BackpressureWarning struct {
	Subscription string        // the daemon's id of the subscription
	Reason       string        // slow_consumer, burst, ttl_expired or message_lost
	Dropped      uint64        // dropped since the previous warning
	Expired      uint64        // expired since the previous warning
	Lost         uint64        // lost between daemons since the previous warning
	TotalDropped uint64        // since the subscription started on this daemon
	TotalExpired uint64        // since the subscription started on this daemon
	TotalLost    uint64        // since the subscription started on this daemon
	QueueDepth   uint64        // messages waiting in the daemon's queue now
	QueueLimit   uint64        // the queue's limit
	OldestAge    time.Duration // age of the oldest queued message
}
