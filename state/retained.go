package state

import (
	"slices"
	"strings"
	"time"
)

// Retained values. Each topic holds at most one: the publish with
// retain=true that wins the conflict rule, the larger (timestamp_ms,
// source, source_sequence, id). An empty payload clears the topic but is
// kept as a tombstone for TombstoneTTL, so an older value arriving late
// cannot bring the topic back; a value whose TTL runs out becomes such a
// tombstone too. Every node applies the same rule to the same
// values, so all nodes converge whatever order pushes and fetches arrive in.
type retainedStore struct {
	byTopic map[string]*Message
	bytes   int
	// tombSince: when (our monotonic clock) the reaper first saw a topic's
	// tombstone. Its age is judged by that, not by our wall clock against
	// its stamp: a node whose clock jumped ahead would drop it at once,
	// take an older value a peer offers again, and hold another value than
	// the rest.
	tombSince map[string]time.Duration
}

func (r *retainedStore) init() {
	r.byTopic, r.tombSince = make(map[string]*Message), make(map[string]time.Duration)
}

// newer reports whether a wins over b.
func newer(a, b *Envelope) bool {
	if a.TimestampMs != b.TimestampMs {
		return a.TimestampMs > b.TimestampMs
	}
	if c := strings.Compare(a.Source, b.Source); c != 0 {
		return c > 0
	}
	if a.SourceSeq != b.SourceSeq {
		return a.SourceSeq > b.SourceSeq
	}
	return a.ID > b.ID
}

// applyRetained stores m if it wins. It reports whether it was stored.
func (n *Node) applyRetained(m *Message) bool {
	r := &n.retained
	cur := r.byTopic[m.Topic]
	if cur != nil && !newer(&m.Envelope, &cur.Envelope) {
		n.counters.RetainedStale++
		return false
	}
	if cur == nil && len(r.byTopic) >= n.cfg.MaxRetained {
		n.reject(reasonRetainedLimit)
		return false
	}
	if reason := n.retainedRoom(cur, m.cost()); reason != "" {
		n.reject(reason)
		return false
	}
	if cur != nil {
		n.retainedBytes(-cur.cost())
	}
	pin(m) // kept for as long as it is the topic's value: not counted (slab.go)
	r.byTopic[m.Topic] = m
	delete(r.tombSince, m.Topic)
	n.retainedBytes(m.cost())
	n.counters.RetainedApplied++
	n.state = nil
	if len(m.Payload) == 0 || m.ExpiresMs != 0 {
		n.expirableAdded()
	}
	return true
}

// retainedBytes charges the retained store.
func (n *Node) retainedBytes(delta int) {
	n.retained.bytes += delta
	n.charge(memRetained, delta)
}

// retainedRoom says why a value costing cost cannot replace cur (nil: a new
// topic), or "" when it can: the store's MaxRetainedBytes, or the node's
// budget. A value no larger than the one it replaces always fits.
func (n *Node) retainedRoom(cur *Message, cost int) string {
	grow := cost
	if cur != nil {
		grow -= cur.cost()
	}
	switch {
	case grow <= 0:
		return ""
	case n.retained.bytes+grow > n.cfg.MaxRetainedBytes:
		return reasonRetainedLimit
	case n.overBudget(grow):
		return reasonBudget
	}
	return ""
}

// receiveRetained merges a retained value learned from a peer's state.
func (n *Node) receiveRetained(e *Envelope) {
	if !e.Retain || n.checkEnvelope(e) != nil {
		n.reject(reasonBadEnvelope)
		return
	}
	m := n.loneMessage(e)
	n.takeRetained(m, true) // even expired: see receiveRemote
}

// retainedFor returns the live retained values matching any of patterns,
// sorted by topic.
func (n *Node) retainedFor(patterns []string) []*Message {
	var out []*Message
	for topic, m := range n.retained.byTopic {
		if len(m.Payload) == 0 || m.expired(n.now.WallMs) {
			continue
		}
		for _, p := range patterns {
			if Match(p, topic) {
				out = append(out, m)
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *Message) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// snapshot lists every retained value and tombstone, by topic, for a
// NodeState; an expired value goes as the tombstone it is about to become.
func (r *retainedStore) snapshot(nowMs int64) []Envelope {
	out := make([]Envelope, 0, len(r.byTopic))
	for _, m := range r.byTopic {
		if m.expired(nowMs) {
			out = append(out, tombstoneOf(m).Envelope)
		} else {
			out = append(out, m.Envelope)
		}
	}
	slices.SortFunc(out, func(a, b Envelope) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// reapRetained turns expired values into tombstones and drops tombstones
// it has seen for TombstoneTTL (retainedStore.tombSince).
func (n *Node) reapRetained() {
	r := &n.retained
	for topic, m := range r.byTopic {
		switch {
		case m.expired(n.now.WallMs):
			t := tombstoneOf(m)
			n.retainedBytes(t.cost() - m.cost())
			r.byTopic[topic] = t
			r.tombSince[topic] = n.now.Mono
			n.state = nil
		case len(m.Payload) == 0:
			since, seen := r.tombSince[topic]
			switch {
			case !seen:
				r.tombSince[topic] = n.now.Mono // a clear stored since the last sweep
			case n.now.Mono-since >= n.cfg.TombstoneTTL:
				n.retainedBytes(-m.cost())
				delete(r.byTopic, topic)
				delete(r.tombSince, topic)
				n.state = nil
			}
		}
	}
}

// tombstoneOf is what an expired retained value leaves behind: the same
// identity, so it wins and loses exactly as the value did, and no payload.
func tombstoneOf(m *Message) *Message {
	t := &Message{Envelope: m.Envelope}
	t.Payload, t.TTLMs = nil, 0
	return t
}

// Retained returns the live retained value of topic, or nil.
func (n *Node) Retained(topic string) *Message {
	m := n.retained.byTopic[topic]
	if m == nil || len(m.Payload) == 0 || m.expired(n.now.WallMs) {
		return nil
	}
	return m
}
