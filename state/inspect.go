package state

import (
	"slices"
	"strings"
)

// Read-only views for checkers, status pages and tests. None of them
// changes the node.

// SyncedHash is the hash of the state last fetched from peer, and whether
// the peer is known and has been fetched at all.
func (n *Node) SyncedHash(peer string) (uint64, bool) {
	p := n.peers.get(peer)
	if p == nil || !p.fetched {
		return 0, false
	}
	return p.syncedHash, true
}

// VouchesStamp reports whether call, not yet completed, asks a source to
// vouch for a retained value's stamp (stamp.go): the messages its answer
// carries are compared, not taken in as the stream's.
func (n *Node) VouchesStamp(call uint64) bool {
	c, ok := n.calls[call]
	return ok && c.kind == callResend && c.stamp != ""
}

// KnowsPeer reports whether peer is in the registry (alive or suspected).
func (n *Node) KnowsPeer(peer string) bool { return n.peers.get(peer) != nil }

// StreamInfo is how far one (source, topic) numbering has been taken in.
// Every number in (Base, Last] was delivered here, declared lost, or
// skipped as not meant for this node, so Delivered+Lost+Skipped ==
// Last-Base; Held messages wait behind a hole.
type StreamInfo struct {
	Base, Last               uint64
	Delivered, Lost, Skipped uint64
	Held                     int
}

// Stream describes the tracker of (source, topic), if there is one.
func (n *Node) Stream(source, topic string) (StreamInfo, bool) {
	s := n.inStreams.get(source, topic)
	if s == nil {
		return StreamInfo{}, false
	}
	return StreamInfo{Base: s.base, Last: s.last, Delivered: s.delivered, Lost: s.lost, Skipped: s.skipped, Held: len(s.held) + len(s.waiting)}, true
}

// GroupEntries are the node's own queue group entries (live members per
// pattern and group, sorted), as its state carries them: with Patterns,
// what Hash is computed from (StateHash).
func (n *Node) GroupEntries() []GroupMembers { return slices.Clone(n.groupEntries()) }

// WantsTopic reports whether any subscription here, active or paused,
// matches topic.
func (n *Node) WantsTopic(topic string) bool { return n.wantsTopic(topic) }

// TopicLost is how many sequence numbers of topic were skipped on this
// node for messages declared lost in the mesh.
func (n *Node) TopicLost(topic string) uint64 {
	if t := n.topics.get(topic); t != nil {
		return t.lost
	}
	return 0
}

// NumberedTopics lists the topics this node numbers, sorted.
func (n *Node) NumberedTopics() []string {
	out := make([]string, 0, len(n.topics.m))
	for name := range n.topics.m {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// RetainedValues lists the live retained values, sorted by topic
// (tombstones and expired values left out).
func (n *Node) RetainedValues() []Envelope {
	var out []Envelope
	for _, m := range n.retained.byTopic {
		if len(m.Payload) > 0 && !m.expired(n.now.WallMs) {
			out = append(out, m.Envelope)
		}
	}
	slices.SortFunc(out, func(a, b Envelope) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// CallsInFlight is how many request effects await their completion.
func (n *Node) CallsInFlight() int {
	c := len(n.calls)
	n.peers.each(func(p *peer) { c += p.link.inflight })
	return c
}

// PeerCount is how many peers the registry holds.
func (n *Node) PeerCount() int { return n.peers.len() }

// Backlog is the work a node still has under way: calls awaiting their
// completion, messages held behind holes, messages waiting for peers, and
// peers whose latest state it has not fetched yet. All zero: it is quiet.
type Backlog struct {
	Calls, Held, Waiting, Unsynced int
}

// Backlog reports the node's work under way, without allocating.
func (n *Node) Backlog() Backlog {
	b := Backlog{Calls: n.CallsInFlight()}
	n.peers.each(func(p *peer) {
		b.Waiting += p.link.waiting()
		if p.unsynced() {
			b.Unsynced++
		}
	})
	for _, s := range n.inStreams.m {
		b.Held += len(s.held) + len(s.waiting)
	}
	return b
}

// TimersSet counts the timers ever set. While it stays the same the next
// deadline can only have moved later, so a driver may keep the earlier
// wake-up it planned (waking early is harmless) instead of asking
// NextDeadline after every step.
func (n *Node) TimersSet() uint64 { return n.timerSeq }

// OwnSeq is the last number this node gave its own publishes on topic: an
// upper bound on every number it ever issued there (a topic whose state was
// evicted answers the floor every evicted topic stayed below).
func (n *Node) OwnSeq(topic string) uint64 {
	if t := n.topics.get(topic); t != nil {
		return t.ownSeq
	}
	return n.ownSeqFloor
}

// HoldsOwnFor reports whether this node still holds its own message
// numbered seq on topic for peer (in the topic's ring, or owed to the
// peer), so a resend request from peer would recover it.
func (n *Node) HoldsOwnFor(peer, topic string, seq uint64) bool {
	return len(n.ownHeld(peer, topic, seq, seq)) > 0
}

// PeerPatterns lists the patterns last fetched from peer, and whether the
// peer is known and has been fetched at all.
func (n *Node) PeerPatterns(peer string) ([]string, bool) {
	p := n.peers.get(peer)
	if p == nil || !p.fetched {
		return nil, false
	}
	return slices.Clone(p.patterns), true
}
