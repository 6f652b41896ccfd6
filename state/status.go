package state

import (
	"maps"
	"slices"
	"time"
)

// Status is a snapshot of the node for monitoring and checks.
type Status struct {
	NodeID          string
	Cluster         string
	Hash            uint64 // our topic_state_hash
	Patterns        int    // distinct patterns held (active and paused)
	Subscriptions   int    // active
	Paused          int
	PeersAlive      int
	PeersSuspected  int
	FetchesInFlight int
	Topics          int // numbered topics
	BufferedMsgs    int // in replay rings
	BufferedBytes   int // what replay rings hold (memory.go)
	QueuedMsgs      int // in subscription queues, blocked included
	QueuedBytes     int // what subscription queues hold, blocked and replay included
	BacklogMsgs     int // waiting for peers
	Retained        int // live retained values
	RetainedBytes   int
	Streams         int // (source, topic) numberings tracked
	Held            int // messages held behind holes
	Memory          MemoryStatus
	Counters        Counters
}

// Status returns a snapshot; its Counters.Rejected is a copy.
func (n *Node) Status() Status {
	st := Status{
		NodeID: n.cfg.NodeID, Cluster: n.cfg.Cluster, Hash: n.hash,
		Patterns: len(n.patternRefs), FetchesInFlight: n.fetchesInFlight,
		Topics: len(n.topics.m), BufferedMsgs: n.buffer.count, BufferedBytes: n.buffer.bytes,
		RetainedBytes: n.retained.bytes, Streams: len(n.inStreams.m),
	}
	for _, s := range n.subs {
		if s.paused {
			st.Paused++
		} else {
			st.Subscriptions++
		}
		st.QueuedMsgs += s.queue.len() + s.blocked.len()
	}
	n.peers.each(func(p *peer) {
		if p.status == Suspected {
			st.PeersSuspected++
		} else {
			st.PeersAlive++
		}
		st.BacklogMsgs += p.link.waiting()
	})
	for _, m := range n.retained.byTopic {
		if len(m.Payload) > 0 {
			st.Retained++
		}
	}
	for _, s := range n.inStreams.m {
		st.Held += len(s.held) + len(s.waiting)
	}
	st.Memory = n.memoryStatus()
	st.QueuedBytes = st.Memory.Queues
	st.Counters = n.counters
	st.Counters.Rejected = maps.Clone(n.counters.Rejected)
	st.Counters.Shed = maps.Clone(n.counters.Shed)
	st.Counters.ShedBytes = maps.Clone(n.counters.ShedBytes)
	st.Counters.Passed = maps.Clone(n.counters.Passed)
	return st
}

// PeerInfo describes one peer for GetPeers and status pages.
type PeerInfo struct {
	ID         string
	Addr       string
	Status     PeerStatus
	LastSeenMs int64  // our wall clock when we last heard from it
	Hash       uint64 // from its latest beacon
	Synced     bool   // the state we fetched matches that hash
	Patterns   []string
	Link       LinkState
}

// Peers lists the peers by id.
func (n *Node) Peers() []PeerInfo {
	out := make([]PeerInfo, 0, n.peers.len())
	for _, p := range n.sortedPeers() {
		out = append(out, PeerInfo{
			ID: p.id, Addr: p.addr, Status: p.status, LastSeenMs: p.lastSeenMs,
			Hash: p.beaconHash, Synced: !p.unsynced(), Patterns: slices.Clone(p.patterns),
			Link: LinkState{InFlight: p.link.inflight, Backlog: p.link.waiting(), Resting: p.link.resting},
		})
	}
	return out
}

// Patterns lists our distinct patterns, sorted.
func (n *Node) Patterns() []string { return slices.Clone(n.sortedPatterns()) }

// Hash is our topic_state_hash.
func (n *Node) Hash() uint64 { return n.hash }

// TopicCounts maps each pattern to the number of subscriptions holding it.
func (n *Node) TopicCounts() map[string]int {
	out := make(map[string]int, len(n.patternRefs))
	for p, c := range n.patternRefs {
		out[p] = c
	}
	for _, s := range n.subs {
		if s.group != "" { // queue group members hold theirs apart (groups.go)
			for _, p := range s.patterns {
				out[p]++
			}
		}
	}
	return out
}

// SubscriptionStatus describes one subscription.
type SubscriptionStatus struct {
	ID        string
	ClientID  string
	Patterns  []string
	Paused    bool
	PausedFor time.Duration // left before a paused subscription expires
	Stream    uint64
	Credit    int
	Queued    int // live messages waiting, blocked included
	Bytes     int // what it holds: queued, blocked, replay and retained waiting
	Pending   int // other events waiting
	Limit     int
	Policy    Policy
	Delivered uint64
	Dropped   uint64
	Expired   uint64
	Lost      uint64 // on its topics, declared lost in the mesh while it was active
}

// Subscriptions lists every subscription, by id.
func (n *Node) Subscriptions() []SubscriptionStatus {
	out := make([]SubscriptionStatus, 0, len(n.subs))
	for _, id := range n.sortedSubIDs() {
		s := n.subs[id]
		st := SubscriptionStatus{
			ID: s.id, ClientID: s.clientID, Patterns: slices.Clone(s.patterns), Paused: s.paused,
			Stream: s.stream, Credit: s.credit, Queued: s.queue.len() + s.blocked.len(), Bytes: s.bytes, Pending: s.pending.len(),
			Limit: s.limit, Policy: s.policy, Delivered: s.delivered, Dropped: s.dropped, Expired: s.expired, Lost: s.lost,
		}
		if s.paused {
			st.PausedFor = s.pausedUntil - n.now.Mono
		}
		out = append(out, st)
	}
	return out
}

func (n *Node) sortedSubIDs() []string {
	ids := make([]string, 0, len(n.subs))
	for id := range n.subs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// TopicSeq returns the last sequence number given on topic, 0 if none.
func (n *Node) TopicSeq(topic string) uint64 {
	if t := n.topics.get(topic); t != nil {
		return t.head
	}
	return 0
}
