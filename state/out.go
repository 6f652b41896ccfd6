package state

import (
	"fmt"
	"strings"
)

// OutKind is the kind of one subscription stream event (the sidecar's
// MessageEvent oneof).
type OutKind uint8

const (
	OutInfo           OutKind = iota + 1 // subscription_info, always first
	OutMessage                           // message: a live message
	OutRetained                          // retained_message
	OutReplay                            // replay_message
	OutReplayComplete                    // replay_complete, one per topic replayed or with messages missed
	OutHeartbeat                         // heartbeat on an idle stream
	OutWarning                           // backpressure_warning
)

var outNames = [...]string{OutInfo: "info", OutMessage: "msg", OutRetained: "retained", OutReplay: "replay",
	OutReplayComplete: "replay-complete", OutHeartbeat: "heartbeat", OutWarning: "warning"}

func (k OutKind) String() string {
	if int(k) < len(outNames) && outNames[k] != "" {
		return outNames[k]
	}
	return fmt.Sprintf("out(%d)", k)
}

// Out is one event for a subscription stream. Which fields are set depends
// on Kind: Msg for messages, Info, Done or Warning for the others, WallMs
// for heartbeats.
type Out struct {
	Kind    OutKind
	Msg     *Message
	Info    *SubscriptionInfo
	Done    *ReplayDone
	Warning *Warning
	WallMs  int64
}

// SubscriptionInfo opens every stream.
type SubscriptionInfo struct {
	SubID         string
	Patterns      []string
	WallMs        int64
	GapDetected   bool // a resume could not replay everything asked for
	Missed        int  // messages a resume could not replay; -1 unknown
	ReplayStarted bool // replay events follow
}

// ReplayDone ends the replay of one topic.
type ReplayDone struct {
	Topic  string
	Count  int    // messages replayed
	Latest uint64 // the topic's sequence when replay was planned
}

// Warning reports what a subscription lost to backpressure or TTL. Counts
// are totals since the subscription started, so a warning that is itself
// late loses no information.
type Warning struct {
	Dropped     uint64
	Expired     uint64
	Lost        uint64 // declared lost in the mesh (the sequence numbers skip them)
	Depth       int
	Limit       int
	Reason      string // slow_consumer | burst | ttl_expired | message_lost
	OldestAgeMs int64
}

func (o Out) String() string {
	switch o.Kind {
	case OutMessage, OutRetained, OutReplay:
		return fmt.Sprintf("%s %s seq=%d %q", o.Kind, o.Msg.Topic, o.Msg.Seq, clip(o.Msg.Payload))
	case OutInfo:
		i := o.Info
		s := fmt.Sprintf("info sub=%s %s", short(i.SubID), strings.Join(i.Patterns, ","))
		if i.GapDetected {
			s += fmt.Sprintf(" gap missed=%d", i.Missed)
		}
		if i.ReplayStarted {
			s += " replay"
		}
		return s
	case OutReplayComplete:
		return fmt.Sprintf("replay-complete %s count=%d latest=%d", o.Done.Topic, o.Done.Count, o.Done.Latest)
	case OutWarning:
		w := o.Warning
		s := fmt.Sprintf("warning %s dropped=%d expired=%d depth=%d/%d", w.Reason, w.Dropped, w.Expired, w.Depth, w.Limit)
		if w.Lost > 0 {
			s += fmt.Sprintf(" lost=%d", w.Lost)
		}
		return s
	case OutHeartbeat:
		return "heartbeat"
	}
	return o.Kind.String()
}

func clip(b []byte) string {
	if len(b) > 24 {
		return string(b[:24]) + "..."
	}
	return string(b)
}
