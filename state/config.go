package state

import (
	"errors"
	"fmt"
	"time"
)

// Source is the randomness a node may use. A seeded *math/rand/v2.Rand
// satisfies it; the node never draws randomness from anywhere else.
type Source interface {
	Uint64() uint64
}

// Policy says what a full subscription queue does with one more message.
type Policy uint8

const (
	// DropOldest discards the oldest queued message to make room.
	DropOldest Policy = iota
	// DropNewest discards the incoming message.
	DropNewest
	// Block holds the incoming message (and a local publisher's answer)
	// until the queue has room or BlockTimeout passes, then drops oldest.
	Block
)

var policyNames = [...]string{DropOldest: "drop-oldest", DropNewest: "drop-newest", Block: "block"}

func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("policy(%d)", p)
}

// ParsePolicy reads drop-oldest, drop-newest or block.
func ParsePolicy(s string) (Policy, error) {
	for p, name := range policyNames {
		if s == name {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("backpressure policy %q: want drop-oldest, drop-newest or block", s)
}

// Config is everything a node needs to know before its first event. Every
// duration and limit of the core lives here (docs/protocol.md cites them
// as state/config.go); DefaultConfig says why each default is what it is.
type Config struct {
	NodeID  string // this process's instance uuid, fresh on every start
	Cluster string // exact-match isolation boundary
	Rand    Source // seeded randomness: beacon jitter, ids

	// Discovery and membership.
	BeaconInterval time.Duration // mean time between beacons
	BeaconJitter   float64       // each interval is drawn from ±this fraction
	BeaconMinGap   time.Duration // earliest extra beacon after our hash changes
	SuspectAfter   time.Duration // beacon silence before a peer is suspected and probed
	PeerTimeout    time.Duration // silence (beacons and probes) before a peer is dead and removed

	// Admission (admit.go). Members: only beacons that proved the cluster
	// key (Beacon.Member) admit or refresh a peer. NewPeerRate and
	// NewPeerBurst bound the new instances one address may introduce.
	Members      bool
	NewPeerRate  float64 // per second, per address
	NewPeerBurst int

	// Gossip.
	FetchInterval      time.Duration // least time between two fetches from one peer
	MaxFetchesInFlight int           // state fetches under way at once, all peers
	CallTimeout        time.Duration // what shells give any request effect before failing it

	// Limits on input.
	MaxPayloadBytes  int // larger publishes are refused
	MaxTopicBytes    int
	MaxTopicLevels   int
	MaxPatterns      int // distinct subscribed patterns on this node
	MaxRetained      int // retained topics held, tombstones included
	MaxRetainedBytes int // all retained values together (what each costs: memory.go)
	MaxSubscriptions int // active plus paused

	// Delivery, replay and pause.
	MessageBufferSize    int           // replay ring length per topic, in messages
	RingBytes            int           // all replay rings together (memory.go: what a message costs)
	MaxTopics            int           // topics with numbering and a ring
	PausedTTL            time.Duration // how long a paused subscription is kept
	QueueLimit           int           // per-subscription queue, in messages
	QueueBytes           int           // per-subscription queue (blocked and replay included), in bytes
	DefaultPolicy        Policy        // for subscriptions that do not choose one
	BlockTimeout         time.Duration // longest a Block publish waits for room
	BlockedLimit         int           // messages one Block subscription may hold waiting
	DefaultTTL           time.Duration // for messages without ttl_ms; 0 = none
	HeartbeatInterval    time.Duration // an idle stream gets a heartbeat this often
	WarningInterval      time.Duration // least time between two backpressure warnings
	ReapInterval         time.Duration // how often expired messages are swept out
	TombstoneTTL         time.Duration // how long a cleared retained topic remembers its clear
	DedupWindow          int           // recent blocks of remote message ids remembered (dedup.go)
	ReplayLimitPerResume int           // messages one resume may replay, all topics

	// Mesh delivery and loss repair.
	PushWindow        int           // pushes in flight to one peer
	PeerBacklogLimit  int           // messages waiting for one peer (window full or retrying)
	PeerBacklogBytes  int           // bytes one peer's pushes not done hold (waiting, in flight), and a dead peer's missed ones
	PushRetryDelay    time.Duration // first wait before re-pushing after a failure
	PushRetryMaxDelay time.Duration // the wait doubles up to this
	RepairDelay       time.Duration // wait for a reordered message before asking for a resend
	RepairAttempts    int           // resend requests for one hole before it is a gap
	RepairMaxDelay    time.Duration // the wait between resend requests doubles up to this
	RepairHoldLimit   int           // later messages held back behind one hole
	HeldBytes         int           // all held behind holes (or waiting to be vouched for), in bytes
	MaxStreams        int           // (source, topic) pairs whose numbering is tracked
	MaxClockSkew      time.Duration // how far ahead of its source's clock a retained timestamp may be

	// BudgetBytes bounds everything above that holds messages, together
	// (memory.go says what is shed, in what order, when it is spent).
	BudgetBytes       int
	DepartedRetention time.Duration // how long we remember what we routed to a removed peer

	// QueueGroupLocalFirst: a local publish goes to a live member of a
	// queue group on this node when there is one, and to the mesh's
	// members only when there is none (groups.go).
	QueueGroupLocalFirst bool

	// PoisonReused scrambles the messages of a slab as it goes back to be
	// used again (slab.go), so a holder the node did not count reads
	// nonsense a check catches instead of another message. A test aid:
	// the simulator sets it.
	PoisonReused bool
}

// DefaultConfig returns the defaults of docs/protocol.md for node id and
// cluster; §N names the section of each.
func DefaultConfig(nodeID, cluster string, rand Source) Config {
	return Config{
		NodeID:  nodeID,
		Cluster: cluster,
		Rand:    rand,

		BeaconInterval: time.Second,            // §2.2: 1 Hz
		BeaconJitter:   0.1,                    // §2.2: ±10%, so nodes started together drift apart
		BeaconMinGap:   100 * time.Millisecond, // a changed hash goes out early, at most 10 extra beacons/s
		SuspectAfter:   3 * time.Second,        // §2.4: three missed beacons
		PeerTimeout:    5 * time.Second,        // §2.4: --peer-timeout
		NewPeerRate:    8,                      // a host's daemons start a few at a time; a flood of ids from one address stays small
		NewPeerBurst:   64,

		FetchInterval:      time.Second, // §3.2: at most one fetch per peer a second
		MaxFetchesInFlight: 16,          // §3.2: no fetch storms when many peers change at once
		CallTimeout:        2 * time.Second,

		MaxPayloadBytes:  1 << 20,   // §9: 1 MiB
		MaxTopicBytes:    256,       // §4.1
		MaxTopicLevels:   16,        // §4.1
		MaxPatterns:      10000,     // §4.3
		MaxRetained:      100000,    // §6.1
		MaxRetainedBytes: 128 << 20, // a node's whole state must fit one GetNodeState answer
		MaxSubscriptions: 10000,     // one per pattern at most is plenty

		MessageBufferSize:    1024,              // §8: --message-buffer-size
		RingBytes:            64 << 20,          // §8: --max-buffer-memory
		MaxTopics:            100000,            // as many as retained topics
		PausedTTL:            300 * time.Second, // §8: --paused-subscription-ttl
		QueueLimit:           10000,             // §7.2: --subscriber-queue-limit
		QueueBytes:           64 << 20,          // one subscriber that never reads holds at most this
		DefaultPolicy:        DropOldest,        // §7.2
		BlockTimeout:         5 * time.Second,   // §7.2: --block-timeout
		BlockedLimit:         8192,              // waiting publishes per blocked subscriber: the credit a PublishPacked stream's acks give
		DefaultTTL:           0,                 // §7.3: --default-message-ttl, none
		HeartbeatInterval:    30 * time.Second,  // §7.2
		WarningInterval:      time.Second,       // §7.2: at most one warning a second
		ReapInterval:         time.Second,       // expired messages free their memory within a second
		TombstoneTTL:         5 * time.Minute,   // longer than any partition we expect to heal from
		DedupWindow:          65536,             // a few seconds of traffic at high rates
		ReplayLimitPerResume: 1 << 20,           // a resume never builds an unbounded replay list

		PushWindow:        6144,                   // 6 full batches in flight keep a stream busy; at most RepairHoldLimit
		PeerBacklogLimit:  10000,                  // as deep as one subscriber queue
		PeerBacklogBytes:  64 << 20,               // as much as one subscriber queue
		PushRetryDelay:    100 * time.Millisecond, // a broken stream reconnects in about this
		PushRetryMaxDelay: 2 * time.Second,        // below PeerTimeout, so retries outlive blips
		RepairDelay:       50 * time.Millisecond,  // streams are ordered; a hole is almost always loss
		RepairAttempts:    8,                      // with the waits below, about 4 s of trying
		RepairMaxDelay:    time.Second,
		RepairHoldLimit:   16384,    // a full push window, with room for retries behind it
		HeldBytes:         64 << 20, // holes are rare and short; more waits at the source
		MaxStreams:        100000,
		DepartedRetention: 10 * time.Minute, // a peer back within this learns what it missed
		MaxClockSkew:      time.Minute,      // a clock that far off is broken; a stamp that far ahead would win every later write

		BudgetBytes: 512 << 20, // §7.3: --max-buffer-bytes; room for every store at its cap but a few queues
	}
}

// Validate reports the first setting that cannot work, naming it.
func (c *Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("config: NodeID is empty")
	}
	if c.Rand == nil {
		return errors.New("config: Rand is nil; pass a seeded source")
	}
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"BeaconInterval", c.BeaconInterval}, {"SuspectAfter", c.SuspectAfter},
		{"PeerTimeout", c.PeerTimeout}, {"FetchInterval", c.FetchInterval},
		{"CallTimeout", c.CallTimeout}, {"PausedTTL", c.PausedTTL},
		{"BlockTimeout", c.BlockTimeout}, {"HeartbeatInterval", c.HeartbeatInterval}, {"MaxClockSkew", c.MaxClockSkew},
		{"WarningInterval", c.WarningInterval}, {"ReapInterval", c.ReapInterval},
		{"TombstoneTTL", c.TombstoneTTL}, {"PushRetryDelay", c.PushRetryDelay},
		{"PushRetryMaxDelay", c.PushRetryMaxDelay}, {"RepairDelay", c.RepairDelay},
		{"RepairMaxDelay", c.RepairMaxDelay},
		{"DepartedRetention", c.DepartedRetention},
	}
	for _, d := range durations {
		if d.d <= 0 {
			return fmt.Errorf("config: %s must be positive, got %s", d.name, d.d)
		}
	}
	if c.BeaconMinGap < 0 || c.DefaultTTL < 0 {
		return errors.New("config: BeaconMinGap and DefaultTTL may not be negative")
	}
	if !(c.NewPeerRate > 0) {
		return fmt.Errorf("config: NewPeerRate must be positive, got %g", c.NewPeerRate)
	}
	if c.BeaconJitter < 0 || c.BeaconJitter >= 1 {
		return fmt.Errorf("config: BeaconJitter must be in [0, 1), got %g", c.BeaconJitter)
	}
	if c.PeerTimeout <= c.SuspectAfter {
		return fmt.Errorf("config: PeerTimeout (%s) must exceed SuspectAfter (%s) to leave time for a probe", c.PeerTimeout, c.SuspectAfter)
	}
	limits := []struct {
		name string
		n    int
	}{
		{"MaxFetchesInFlight", c.MaxFetchesInFlight}, {"MaxPayloadBytes", c.MaxPayloadBytes},
		{"MaxTopicBytes", c.MaxTopicBytes}, {"MaxTopicLevels", c.MaxTopicLevels},
		{"MaxPatterns", c.MaxPatterns}, {"MaxRetained", c.MaxRetained}, {"MaxRetainedBytes", c.MaxRetainedBytes},
		{"MaxSubscriptions", c.MaxSubscriptions}, {"MessageBufferSize", c.MessageBufferSize},
		{"RingBytes", c.RingBytes}, {"MaxTopics", c.MaxTopics}, {"QueueBytes", c.QueueBytes},
		{"PeerBacklogBytes", c.PeerBacklogBytes}, {"HeldBytes", c.HeldBytes}, {"BudgetBytes", c.BudgetBytes},
		{"QueueLimit", c.QueueLimit}, {"BlockedLimit", c.BlockedLimit},
		{"DedupWindow", c.DedupWindow}, {"ReplayLimitPerResume", c.ReplayLimitPerResume},
		{"PushWindow", c.PushWindow}, {"PeerBacklogLimit", c.PeerBacklogLimit},
		{"RepairAttempts", c.RepairAttempts}, {"RepairHoldLimit", c.RepairHoldLimit},
		{"MaxStreams", c.MaxStreams}, {"NewPeerBurst", c.NewPeerBurst},
	}
	for _, l := range limits {
		if l.n <= 0 {
			return fmt.Errorf("config: %s must be positive, got %d", l.name, l.n)
		}
	}
	if c.PushWindow > c.RepairHoldLimit {
		// A peer may hold up to RepairHoldLimit messages behind one hole;
		// a source with more than that in flight would push past it.
		return fmt.Errorf("config: PushWindow %d is larger than RepairHoldLimit %d: a receiver could not hold what one stream has in flight behind a hole", c.PushWindow, c.RepairHoldLimit)
	}
	if c.DefaultPolicy > Block {
		return fmt.Errorf("config: DefaultPolicy %d is not a policy", c.DefaultPolicy)
	}
	return nil
}
