package state

import (
	"slices"
	"time"
)

// Mesh loss repair. Every source numbers its own publishes per topic
// (source_sequence 1, 2, 3...). A receiver tracks, per (source, topic), the
// last number it delivered. A message that skips ahead opens a hole: it and
// whatever follows are held back, and after RepairDelay (time for a
// reordered message to turn up by itself) the receiver asks the source to
// resend the missing range from its ring. What comes back is delivered in
// order; what the source no longer holds, or what cannot be fetched after
// RepairAttempts tries, is declared lost: the topic's local numbering skips
// as many numbers, so every subscriber sees the gap in its sequence numbers
// instead of losing messages silently.
//
// Numbering is per source instance, so a restarted source (new instance
// id) starts fresh without looking like a hole.

type streamKey struct{ source, topic string }

type inStream struct {
	key        streamKey
	last       uint64     // highest number delivered or declared lost
	held       []*Message // beyond the hole, sorted by number
	attempts   int
	resendCall uint64
	alarm      alarm
	removed    bool
}

// streamTable holds at most MaxStreams trackers; the oldest goes first.
type streamTable struct {
	m       map[streamKey]*inStream
	order   deque[*inStream] // creation order
	removed int              // removed entries still in order
}

func (st *streamTable) init() { st.m = make(map[streamKey]*inStream) }

func (n *Node) streamFor(k streamKey, first uint64) *inStream {
	tab := &n.inStreams
	if s := tab.m[k]; s != nil {
		return s
	}
	for len(tab.m) >= n.cfg.MaxStreams {
		old := tab.order.popFront()
		if old.removed {
			tab.removed--
			continue
		}
		n.counters.StreamsEvicted++
		n.dropStream(old, true)
		tab.removed-- // dropStream counted it, but it has left order already
	}
	s := &inStream{key: k, last: first - 1, alarm: newAlarm()}
	tab.m[k] = s
	tab.order.pushBack(s)
	return s
}

// dropStream forgets a tracker. With flush, held messages are delivered
// (after declaring the hole lost); without, they are dropped.
func (n *Node) dropStream(s *inStream, flush bool) {
	if flush && len(s.held) > 0 {
		n.declareGap(s, s.held[0].SourceSeq-1)
	}
	s.removed = true
	s.held = nil
	tab := &n.inStreams
	delete(tab.m, s.key)
	tab.removed++
	if tab.removed > 64 && tab.removed > tab.order.len()/2 {
		tab.order.filter(func(x *inStream) bool { return !x.removed })
		tab.removed = 0
	}
}

// sequenceRemote delivers a numbered remote message in order, or holds it
// behind a hole.
func (n *Node) sequenceRemote(m *Message) {
	seq := m.SourceSeq
	s := n.streamFor(streamKey{m.Source, m.Topic}, seq)
	if seq <= s.last {
		if seq != 1 {
			n.counters.Late++
			return
		}
		// Only a source that lost its topic state numbers 1 again.
		n.dropStream(s, true)
		s = n.streamFor(streamKey{m.Source, m.Topic}, seq)
	}
	if seq == s.last+1 {
		n.deliverRemote(m)
		s.last = seq
		n.releaseHeld(s)
		return
	}
	i, found := slices.BinarySearchFunc(s.held, seq, func(h *Message, q uint64) int { return cmpU64(h.SourceSeq, q) })
	if found {
		n.counters.Duplicates++
		return
	}
	s.held = slices.Insert(s.held, i, m)
	if len(s.held) > n.cfg.RepairHoldLimit {
		n.declareGap(s, s.held[0].SourceSeq-1)
		return
	}
	if s.alarm.want == Never && s.resendCall == 0 {
		s.attempts = 0
		n.arm(&s.alarm, n.now.Mono+n.cfg.RepairDelay, timer{kind: tRepair, in: s})
	}
}

// releaseHeld delivers held messages that are next in line.
func (n *Node) releaseHeld(s *inStream) {
	k := 0
	for k < len(s.held) && s.held[k].SourceSeq <= s.last+1 {
		if h := s.held[k]; h.SourceSeq == s.last+1 {
			n.deliverRemote(h)
			s.last = h.SourceSeq
		}
		k++
	}
	if k > 0 {
		s.held = slices.Delete(s.held, 0, k)
	}
	if len(s.held) == 0 {
		s.alarm.want = Never
		s.attempts = 0
	}
}

// maxGapNumbers bounds how far one declared gap moves a topic's numbering,
// whatever number a faulty peer sends.
const maxGapNumbers = 1 << 31

// declareGap gives up on numbers up to upTo: they are lost. The topic's
// local numbering skips as many, then held messages flow again.
func (n *Node) declareGap(s *inStream, upTo uint64) {
	if upTo > s.last {
		missing := upTo - s.last
		n.counters.Gaps++
		n.counters.GapMessages += missing
		t := n.useTopic(s.key.topic)
		t.head += min(missing, maxGapNumbers)
		s.last = upTo
	}
	n.releaseHeld(s)
}

// repairDue runs when a hole has waited RepairDelay (or a retry backoff).
func (n *Node) repairDue(s *inStream) {
	if len(s.held) == 0 || s.resendCall != 0 {
		return
	}
	if s.attempts >= n.cfg.RepairAttempts {
		n.declareGap(s, s.held[0].SourceSeq-1)
		return
	}
	s.attempts++
	p := n.peers[s.key.source]
	if p == nil {
		n.arm(&s.alarm, n.now.Mono+n.repairBackoff(s), timer{kind: tRepair, in: s})
		return
	}
	from, to := s.last+1, s.held[0].SourceSeq-1
	s.resendCall = n.newCall(call{kind: callResend, peer: p, in: s})
	n.counters.ResendsRequested++
	n.emit(&RequestResend{Call: s.resendCall, Peer: p.id, Addr: p.addr, Topic: s.key.topic, From: from, To: to})
}

func (n *Node) repairBackoff(s *inStream) time.Duration {
	return n.cfg.RepairDelay << min(s.attempts, 10)
}

func (n *Node) onResendCompleted(e *ResendCompleted) {
	c, ok := n.takeCall(e.Call, callResend)
	if !ok {
		return
	}
	s := c.in
	s.resendCall = 0
	if s.removed || len(s.held) == 0 {
		return
	}
	if e.Err != nil || e.Reply == nil {
		n.arm(&s.alarm, n.now.Mono+n.repairBackoff(s), timer{kind: tRepair, in: s})
		return
	}
	target := s.held[0].SourceSeq - 1
	if e.Reply.Instance != s.key.source {
		n.reject(reasonResendWrongNode)
		n.declareGap(s, target)
		return
	}
	msgs := make([]*Message, 0, len(e.Reply.Msgs))
	for i := range e.Reply.Msgs {
		env := &e.Reply.Msgs[i]
		if env.Source != s.key.source || env.Topic != s.key.topic || env.SourceSeq <= s.last || env.SourceSeq > target {
			continue
		}
		if n.checkEnvelope(env) != nil {
			n.reject(reasonBadEnvelope)
			continue
		}
		msgs = append(msgs, n.remoteMessage(env))
	}
	slices.SortFunc(msgs, func(a, b *Message) int { return cmpU64(a.SourceSeq, b.SourceSeq) })
	for _, m := range msgs {
		if m.SourceSeq <= s.last {
			continue // a duplicate within the reply
		}
		if m.SourceSeq > s.last+1 {
			n.declareGap(s, m.SourceSeq-1)
		}
		if !n.dedup.add(m.ID) {
			n.counters.Duplicates++
			s.last = m.SourceSeq
			continue
		}
		n.counters.Repaired++
		n.deliverRemote(m)
		s.last = m.SourceSeq
	}
	// The source answers for the whole range: what it did not send is gone.
	n.declareGap(s, target)
}

// sourceGone: a source peer was removed, so no resend can come from it;
// its holes are lost now rather than after RepairAttempts.
func (tab *streamTable) sourceGone(n *Node, source string) {
	for i := 0; i < tab.order.len(); i++ {
		s := tab.order.at(i)
		if !s.removed && s.key.source == source && len(s.held) > 0 && s.resendCall == 0 {
			n.declareGap(s, s.held[0].SourceSeq-1)
		}
	}
}

// patternGone drops trackers of topics no local pattern matches any more,
// so a topic subscribed again later starts a fresh baseline instead of
// asking for what was published while nobody here wanted it.
func (tab *streamTable) patternGone(n *Node) {
	for i := 0; i < tab.order.len(); i++ {
		s := tab.order.at(i)
		if !s.removed && !n.wantsTopic(s.key.topic) {
			n.dropStream(s, false)
		}
	}
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
