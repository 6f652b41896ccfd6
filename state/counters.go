package state

// Counters are the node's running totals since it started. Shells export
// them as metrics; the simulator's checkers read them.
type Counters struct {
	BeaconsSent     uint64
	BeaconsReceived uint64 // accepted from peers of our cluster
	BeaconsIgnored  uint64 // our own, looped back by multicast

	FetchesStarted uint64
	FetchesOK      uint64
	FetchesFailed  uint64
	StateAnswers   uint64 // GetNodeState calls we answered

	ProbesSent     uint64
	ProbesOK       uint64
	ProbesFailed   uint64
	PeersSuspected uint64
	PeersDead      uint64 // removed after PeerTimeout
	PeersReplaced  uint64 // removed because a new instance took the endpoint
	PeersLeft      uint64 // removed because it said it was stopping (a leave beacon or notice)
	LeavesIgnored  uint64 // leave beacons and notices naming no peer we know at that address
	PeersMoved     uint64 // moved to a new address after it answered there (admit.go)
	AddrConflicts  uint64 // a live peer claimed at a second address: reported, not followed

	Published             uint64 // local publishes accepted
	DeliveredLocal        uint64 // messages handed to local subscription streams
	ReceivedRemote        uint64 // messages accepted from peers
	Forwarded             uint64 // push effects issued (retries included)
	RecordedForDeparted   uint64 // messages a dead peer wanted, kept in its chain for its return
	PushFailures          uint64
	BacklogDropped        uint64 // messages a peer's full backlog discarded
	Duplicates            uint64 // remote messages already seen (by id or number)
	Late                  uint64 // remote messages behind a hole already declared lost
	PushesDeferred        uint64 // pushes refused for now: their hole's hold was full
	SeqsToVouch           uint64 // implausible numbers their source was asked to vouch for
	StampsToVouch         uint64 // retained stamps far ahead their source was asked to vouch for
	StampsVouched         uint64 // of which the source did
	Dropped               uint64 // queue drops, all subscriptions
	Expired               uint64 // messages whose TTL ran out before hand-out
	Replayed              uint64
	RetainedSent          uint64
	Heartbeats            uint64
	SubscriptionsOrphaned uint64 // streams that broke, their subscriptions kept paused for a resume
	Warnings              uint64
	BlockTimeouts         uint64 // blocked messages that waited BlockTimeout
	RetainedApplied       uint64 // retained values (or clears) that won and were stored
	RetainedStale         uint64 // retained values that lost the conflict rule
	RetainedSynced        uint64 // retained values sent to a peer whose fetched state lacked them

	ResendsRequested uint64 // resend calls we made
	ResendsAnswered  uint64 // resend calls we answered
	Repaired         uint64 // messages recovered by resend
	Gaps             uint64 // holes declared lost
	GapMessages      uint64 // messages in those holes

	BufferEvicted  uint64 // ring messages evicted by the count or byte cap
	SlabsReused    uint64 // slabs of a run's messages used again (slab.go)
	FramesViewed   uint64 // publish frames whose payloads were kept where they lay (frames.go)
	TopicsEvicted  uint64 // topic states evicted by MaxTopics
	StreamsEvicted uint64 // (source, topic) trackers evicted by MaxStreams

	// Rejected counts refused input by reason (see the reason* constants).
	Rejected map[string]uint64
	// Shed counts messages a store let go to keep within its byte cap or
	// the node's budget, by store (memory.go), and ShedBytes their bytes.
	Shed      map[string]uint64
	ShedBytes map[string]uint64
	// Passed counts numbers of peers' numberings passed over, by why
	// (ReportGap.Why): declared lost, or never meant for this node.
	Passed map[string]uint64
}

func newCounters() Counters {
	return Counters{Rejected: make(map[string]uint64), Shed: make(map[string]uint64), ShedBytes: make(map[string]uint64),
		Passed: make(map[string]uint64)}
}

// Reasons input is refused or dropped. They are metric labels.
const (
	reasonForeignCluster  = "beacon_foreign_cluster"
	reasonBadBeacon       = "beacon_invalid"
	reasonTooManyPeers    = "peer_limit"
	reasonNotMember       = "beacon_not_member"  // no proof of the cluster key, and we require it
	reasonReplayed        = "beacon_replayed"    // a member's (epoch, counter) not above the last taken
	reasonNewPeerRate     = "new_peer_rate"      // its address introduced too many new instances
	reasonAfterLeave      = "beacon_after_leave" // from an instance that left less than PeerTimeout ago
	reasonUnknownCall     = "unknown_call"
	reasonStateMismatch   = "state_wrong_instance"
	reasonBadPattern      = "peer_pattern_invalid"
	reasonPeerPatterns    = "peer_pattern_limit"
	reasonBadTopic        = "topic_invalid"
	reasonPayloadSize     = "payload_too_large"
	reasonBadArgument     = "argument_invalid"
	reasonBadEnvelope     = "envelope_invalid"
	reasonOwnEnvelope     = "envelope_own"
	reasonUnknownSub      = "subscription_unknown"
	reasonUnknownStream   = "stream_unknown"
	reasonPatternLimit    = "pattern_limit"
	reasonSubLimit        = "subscription_limit"
	reasonRetainedLimit   = "retained_limit"
	reasonUnknownEvent    = "event_unknown"
	reasonResendWrongNode = "resend_wrong_instance"

	reasonSequenceImplausible = "sequence_implausible" // a number its source never issued
	reasonSequenceUnverified  = "sequence_unverified"  // dropped while waiting to be vouched for
	reasonRetainedFuture      = "retained_future"      // a retained timestamp beyond the allowed clock skew
	reasonBudget              = "memory_budget"        // the node's byte budget is spent
)

func (n *Node) reject(reason string) { n.counters.Rejected[reason]++ }
