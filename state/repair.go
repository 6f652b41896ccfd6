package state

import (
	"slices"
	"time"
)

// Mesh loss repair. Every source numbers its own publishes per topic
// (source_sequence 1, 2, 3...) and tells each receiver, with every push,
// the number of the previous message on that topic it sent to that
// receiver (prev_source_sequence; 0 for the first). So a receiver knows
// exactly whether something sent to it is missing: a push whose prev is
// beyond the last number it took in opens a hole. The message and what
// follows it are held back, and after RepairDelay (time for a reordered
// message to turn up by itself) the receiver asks the source to resend the
// missing range from its ring. What comes back is delivered in order; what
// the source no longer holds, or what cannot be fetched after
// RepairAttempts tries, is declared lost: the topic's local numbering
// skips as many numbers, so every subscriber sees the gap in its sequence
// numbers instead of losing messages silently. Numbers between a push's
// prev and its own were not sent to this receiver and are skipped.
//
// Numbering is per source instance and never goes back within one (a
// source that evicts a topic's state numbers it above where it was), so a
// number at or below the last one taken in is always late or a duplicate,
// and a restarted source (new instance id) starts fresh without looking
// like a hole.

type streamKey struct{ source, topic string }

// Why numbers of a stream are passed over (ReportGap.Why). The first three
// were never meant for this node; the rest were, and are declared lost.
const (
	gapBeforeFirst   = "before_first"  // before the first number the source sent us
	gapNotSent       = "not_sent"      // the source's chain says it did not send them to us
	gapUnwanted      = "unwanted"      // on a topic no subscription here wanted
	gapSourceGone    = "source_gone"   // the source was replaced, or gone too long
	gapNotHeld       = "not_held"      // the source's ring no longer holds them
	gapSourceShed    = "source_shed"   // the source dropped them unsent (its backlog for us was full) and said so
	gapRepairFailed  = "repair_failed" // the source did not answer our resend requests
	gapHoldFull      = "hold_full"     // more held behind the hole than the hold allows
	gapEvicted       = "tracker_evicted"
	gapWrongInstance = "wrong_instance" // another process answers at the source's address
)

// passOver moves a stream past numbers not meant for this node and says so.
func (n *Node) passOver(s *inStream, to uint64, why string) {
	if to <= s.last {
		return
	}
	n.emit(&ReportGap{Source: s.key.source, Topic: s.key.topic, From: s.last + 1, To: to, Why: why})
	n.counters.Passed[why] += to - s.last
	s.skipped += to - s.last
	s.last = to
}

type inStream struct {
	key        streamKey
	base       uint64     // the number before the first one expected
	last       uint64     // highest number delivered, declared lost or skipped
	delivered  uint64     // numbers in (base, last] delivered
	lost       uint64     // numbers in (base, last] declared lost
	skipped    uint64     // numbers in (base, last] not meant for us
	held       []*Message // beyond a hole, sorted by number
	fromStart  bool       // we missed the first messages sent to us: ask from the start
	attempts   int
	resendCall uint64
	alarm      alarm
	removed    bool

	// plausible.go: a number to be vouched for by its source, and what
	// waits with it.
	verifying  uint64
	waiting    []*Message
	unanchored bool // created for the number being vouched for: no base yet
}

// streamTable holds at most MaxStreams trackers; the oldest goes first.
type streamTable struct {
	m       map[streamKey]*inStream
	order   deque[*inStream] // creation order
	removed int              // removed entries still in order
	evicted map[string]bool  // sources some of whose trackers we evicted
	last    *inStream        // the tracker get found last (get)
}

// get is the tracker of source's stream on topic, or nil. A frame's
// messages come in runs of one stream, so the tracker found last is
// checked first (dropStream forgets it when it goes).
func (st *streamTable) get(source, topic string) *inStream {
	if s := st.last; s != nil && s.key.topic == topic && s.key.source == source {
		return s
	}
	s := st.m[streamKey{source, topic}]
	if s != nil {
		st.last = s
	}
	return s
}

func (st *streamTable) init() {
	st.m, st.last = make(map[streamKey]*inStream), nil
	st.evicted = make(map[string]bool)
}

func (n *Node) newStream(k streamKey, base uint64) *inStream {
	tab := &n.inStreams
	for len(tab.m) >= n.cfg.MaxStreams {
		old := tab.order.popFront()
		if old.removed {
			tab.removed--
			continue
		}
		n.counters.StreamsEvicted++
		tab.evicted[old.key.source] = true
		n.dropStream(old)
		tab.removed-- // it has left order already
	}
	s := &inStream{key: k, base: base, last: base, alarm: newAlarm()}
	tab.m[k] = s
	tab.order.pushBack(s)
	if base > 0 {
		n.emit(&ReportGap{Source: k.source, Topic: k.topic, From: 1, To: base, Why: gapBeforeFirst})
		n.counters.Passed[gapBeforeFirst] += base
	}
	return s
}

// dropStream forgets a tracker, first declaring its holes lost so held
// messages are delivered. What waited for a number to be vouched for goes
// too, counted: without its tracker it cannot be put in order.
func (n *Node) dropStream(s *inStream) {
	for len(s.held) > 0 {
		n.declareGap(s, s.held[0].PrevSeq, gapEvicted)
	}
	for _, m := range s.waiting {
		n.unhold(m)
		n.reject(reasonSequenceUnverified)
	}
	s.waiting, s.verifying = nil, 0
	s.removed = true
	tab := &n.inStreams
	delete(tab.m, s.key)
	if tab.last == s {
		tab.last = nil
	}
	tab.removed++
	if tab.removed > 64 && tab.removed > tab.order.len()/2 {
		tab.order.filter(func(x *inStream) bool { return !x.removed })
		tab.removed = 0
	}
}

// holdFull reports whether env would wait behind a hole (or behind a
// number being vouched for) when the hold is full: its limit in messages,
// HeldBytes, or the node's budget. Such a push is refused for now
// (Unavailable: the source pushes it again after its backoff, by which time
// the hole may be filled) rather than the hole declared lost while the
// source may still fill it.
func (n *Node) holdFull(env *Envelope) bool {
	if env.SourceSeq == 0 || env.SyncOnly {
		return false
	}
	s := n.inStreams.get(env.Source, env.Topic)
	cost := len(env.Payload) + len(env.Topic) + env.Extras.textBytes() + msgOverheadBytes // what the message will cost
	full := n.mem.class[memHeld]+cost > n.cfg.HeldBytes || n.overBudget(cost)
	if s == nil {
		return full && n.firstWaits(env)
	}
	if s.verifying != 0 {
		return full || len(s.waiting) >= n.cfg.RepairHoldLimit
	}
	if env.SourceSeq <= s.last {
		return false
	}
	wouldHold := (len(s.held) > 0 && env.SourceSeq > s.held[0].SourceSeq) || n.claimedPrev(s, env.SourceSeq, env.PrevSeq) > s.last
	return wouldHold && (full || len(s.held) >= n.cfg.RepairHoldLimit)
}

// firstWaits reports whether env, the first of its stream here, would
// be held (sequence, verify): it names a predecessor we never saw, or its
// number is to be vouched for by its source.
func (n *Node) firstWaits(env *Envelope) bool {
	if !n.wantsTopic(env.Topic) || n.foreignInbox(env.Topic) {
		return false // passed over, not held (receiveRemote)
	}
	if n.implausible(nil, env.SourceSeq) && n.peers.get(env.Source) != nil {
		return true
	}
	prev := env.PrevSeq
	if prev >= env.SourceSeq || prev == 0 || n.inStreams.evicted[env.Source] {
		return false
	}
	seen, passed := n.unwantedSeen[streamKey{env.Source, env.Topic}]
	return !passed || prev > seen
}

// holdBytes charges m, kept aside (behind a hole, waiting for its source
// to vouch), to the node's budget. Whatever keeps it is not counted in
// its slab, so the slab is the collector's from now on (slab.go).
func (n *Node) holdBytes(m *Message) {
	pin(m)
	n.charge(memHeld, m.cost())
}

// unhold releases the charge.
func (n *Node) unhold(m *Message) { n.charge(memHeld, -m.cost()) }

// claimedPrev is the predecessor a message names, as its stream reads it:
// an impossible claim is none, and none beyond the next number means the
// source forgot what it sent us, so everything since may be ours.
func (n *Node) claimedPrev(s *inStream, seq, prev uint64) uint64 {
	if prev >= seq {
		prev = 0 // a claim that cannot be true is no claim
	}
	if prev == 0 && s != nil && !s.fromStart && seq > s.last+1 && n.wantsPlain(s.key.topic) {
		prev = seq - 1
	}
	return prev
}

// wantsPlain reports whether an ordinary subscription here, not a queue
// group member, matches topic. Only such a subscription can have missed
// what a source published while it had forgotten us: a source chooses a
// group member only among the peers it knows, so what it published for
// groups meanwhile went to members elsewhere (§4.5).
func (n *Node) wantsPlain(topic string) bool {
	found := false
	n.localRoutes.match(topic, func(s *subscription) { found = found || s.group == "" })
	return found
}

// sequenceRemote delivers a numbered remote message in order, or holds it
// behind a hole, or has its source vouch for its number first.
func (n *Node) sequenceRemote(m *Message) {
	k := streamKey{m.Source, m.Topic}
	s := n.inStreams.get(m.Source, m.Topic)
	switch {
	case s != nil && s.verifying != 0:
		n.holdBytes(m)
		s.waiting = append(s.waiting, m) // after the number being vouched for
	case n.implausible(s, m.SourceSeq):
		n.verify(k, s, m)
	default:
		n.sequence(s, m)
	}
}

// sequence puts m in its stream s (nil: the first of its stream): taken
// now, or held behind a hole.
func (n *Node) sequence(s *inStream, m *Message) {
	seq, prev := m.SourceSeq, m.PrevSeq
	if prev >= seq {
		prev = 0 // a claim that cannot be true is no claim
	}
	k := streamKey{m.Source, m.Topic}
	var seen uint64
	var passed bool
	if s == nil { // (a lookup per message otherwise, for nothing)
		if seen, passed = n.unwantedSeen[k]; passed {
			delete(n.unwantedSeen, k)
		}
	}
	switch {
	case s == nil && passed && seq <= seen:
		// Older than what we passed over unwanted (a push of it retried):
		// late; the stream stands where we passed over, so a message that
		// names that number later finds nothing missing.
		s = n.newStream(k, seen)
	case s == nil && prev > 0 && passed && prev <= seen:
		// What it sent us before this, we passed over unwanted.
		s = n.newStream(k, prev)
	case s == nil && prev > 0 && passed && !n.inStreams.evicted[m.Source]:
		// It sent us messages after the last we passed over unwanted
		// that we never saw: wait, then ask for those. What we passed
		// over reached us and is not ours to lose, even if the source
		// no longer holds it.
		s = n.newStream(k, seen)
	case s == nil && prev > 0 && !n.inStreams.evicted[m.Source]:
		// It sent us earlier messages we never saw: wait, then ask for
		// everything from the first it sent us.
		s = n.newStream(k, 0)
		s.fromStart = true
	case s == nil:
		// The first it sent us (or we forgot what we had from it).
		prev = 0
		s = n.newStream(k, seq-1)
	case prev == 0 && s.fromStart:
		s.fromStart = false // this one is the first it sent us
	case prev == 0 && seq > s.last+1 && n.wantsPlain(m.Topic):
		// The source forgot what it sent us; what we missed may be ours.
		prev = seq - 1
	}
	if seq <= s.last {
		n.counters.Late++
		return
	}
	m.PrevSeq = prev
	if len(s.held) == 0 && shedBefore(s, m) {
		n.declareGap(s, prev, gapSourceShed) // nothing to ask for: it said so
	}
	if prev > s.last || (len(s.held) > 0 && seq > s.held[0].SourceSeq) {
		n.hold(s, m)
		return
	}
	n.take(s, m)
	n.releaseHeld(s)
}

// shedBefore reports whether m's source says it dropped every number
// between what s has taken and m's predecessor (Envelope.DroppedFrom).
func shedBefore(s *inStream, m *Message) bool {
	d := m.DroppedFrom()
	return d > 0 && d <= m.PrevSeq && m.PrevSeq > s.last && d <= s.last+1
}

// take delivers the next message of a stream. One whose TTL ran out on
// the way is still numbered, so its subscribers are told it expired.
func (n *Node) take(s *inStream, m *Message) {
	n.passOver(s, m.SourceSeq-1, gapNotSent)
	s.last = m.SourceSeq
	s.delivered++
	n.deliverRemote(m)
}

func (n *Node) hold(s *inStream, m *Message) {
	i, found := slices.BinarySearchFunc(s.held, m.SourceSeq, func(h *Message, q uint64) int { return cmpU64(h.SourceSeq, q) })
	if found {
		n.counters.Duplicates++
		return
	}
	n.holdBytes(m)
	s.held = slices.Insert(s.held, i, m)
	if len(s.held) > n.cfg.RepairHoldLimit {
		n.declareGap(s, s.held[0].PrevSeq, gapHoldFull)
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
	for ; k < len(s.held); k++ {
		h := s.held[k]
		if h.SourceSeq <= s.last {
			continue // came in by another way meanwhile
		}
		if h.PrevSeq > s.last {
			if !shedBefore(s, h) {
				break
			}
			n.loseUpTo(s, h.PrevSeq, gapSourceShed)
		}
		n.take(s, h)
	}
	if k > 0 {
		for _, h := range s.held[:k] {
			n.unhold(h)
		}
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
func (n *Node) declareGap(s *inStream, upTo uint64, why string) {
	n.loseUpTo(s, upTo, why)
	n.releaseHeld(s)
}

// loseUpTo is declareGap without releasing what was held.
func (n *Node) loseUpTo(s *inStream, upTo uint64, why string) {
	if upTo > s.last {
		missing := upTo - s.last
		n.emit(&ReportGap{Source: s.key.source, Topic: s.key.topic, From: s.last + 1, To: upTo, Lost: true, Why: why})
		n.counters.Passed["lost_"+why] += missing
		n.counters.Gaps++
		n.counters.GapMessages += missing
		t := n.useTopic(s.key.topic)
		t.head += min(missing, maxGapNumbers)
		t.lost += min(missing, maxGapNumbers)
		s.last = upTo
		s.lost += missing
		n.reportLost(s.key.topic, missing)
	}
}

// reportLost tells every active subscription of topic that missing
// messages were lost in the mesh: the skipped sequence numbers show where,
// and a warning says how many, so a subscriber that had seen nothing on
// the topic yet learns of it too.
func (n *Node) reportLost(topic string, missing uint64) {
	n.mark++
	mark := n.mark
	n.localRoutes.match(topic, func(s *subscription) {
		if s.mark == mark || s.paused {
			return
		}
		s.mark = mark
		s.lost += missing
		s.memberLost(topic, missing)
		n.noteLoss(s, "message_lost")
		n.pump(s)
	})
}

// skipUnwanted moves a stream past a message this node does not want, so
// wanting the topic later does not make it look missing. For a stream it
// has no tracker of, it only notes the number (unwantedSeen): a source
// that routed it to us on a stale view of what we want may name it as the
// predecessor of the first message it sends once we want the topic again,
// and that must not send us asking for it, nor for anything before it
// (sequence).
func (n *Node) skipUnwanted(source, topic string, seq uint64) {
	k := streamKey{source, topic}
	s := n.inStreams.get(source, topic)
	switch {
	case s == nil:
		if len(n.unwantedSeen) >= n.cfg.MaxStreams {
			clear(n.unwantedSeen) // forgetting only makes us ask the source more
		}
		n.unwantedSeen[k] = max(n.unwantedSeen[k], seq)
	case len(s.held) == 0 && s.verifying == 0:
		n.passOver(s, seq, gapUnwanted)
	}
}

// inHole reports whether m's stream is waiting on a hole (or on its
// source vouching for a number) that m may fill.
func (n *Node) inHole(m *Message) bool {
	s := n.inStreams.get(m.Source, m.Topic)
	return m.SourceSeq > 0 && s != nil && (len(s.held) > 0 || s.verifying != 0)
}

// repairDue runs when a hole has waited RepairDelay (or a retry backoff).
func (n *Node) repairDue(s *inStream) {
	if s.verifying != 0 {
		n.askToVouch(s)
		return
	}
	if len(s.held) == 0 || s.resendCall != 0 {
		return
	}
	if s.attempts >= n.cfg.RepairAttempts {
		n.declareGap(s, s.held[0].PrevSeq, gapRepairFailed)
		n.restartRepair(s)
		return
	}
	p := n.peers.get(s.key.source)
	if _, away := n.awaySources[s.key.source]; away && p == nil {
		return // asked again when it returns (sourceBack)
	}
	s.attempts++
	if p == nil {
		// Not a peer (yet): nobody to ask. The try counts, so a source
		// never heard of does not hold its holes for ever, but once it is
		// a peer it is asked at once with every try (sourceBack).
		if len(n.unasked) >= n.cfg.MaxStreams {
			clear(n.unasked) // forgetting only spares the source a fresh start
		}
		n.unasked[s.key.source] = true
		n.arm(&s.alarm, n.now.Mono+n.repairBackoff(s), timer{kind: tRepair, in: s})
		return
	}
	from, to := s.last+1, s.held[0].PrevSeq
	if s.fromStart {
		from = 0
	}
	s.resendCall = n.newCall(call{kind: callResend, peer: p, in: s, to: to, held: slices.Clone(s.held)})
	n.counters.ResendsRequested++
	n.emit(&RequestResend{Call: s.resendCall, Peer: p.id, Addr: p.addr, Topic: s.key.topic, From: from, To: to})
}

// restartRepair starts over on the next hole, if one is left.
func (n *Node) restartRepair(s *inStream) {
	if len(s.held) > 0 && s.resendCall == 0 {
		s.attempts = 0
		n.arm(&s.alarm, n.now.Mono+n.cfg.RepairDelay, timer{kind: tRepair, in: s})
	}
}

func (n *Node) repairBackoff(s *inStream) time.Duration {
	return min(n.cfg.RepairDelay<<min(s.attempts, 16), n.cfg.RepairMaxDelay)
}

func (n *Node) onResendCompleted(e *ResendCompleted) {
	c, ok := n.takeCall(e.Call, callResend)
	if !ok {
		return
	}
	if c.stamp != "" {
		n.onStampVouched(c, e)
		return
	}
	s := c.in
	s.resendCall = 0
	if c.vouch != 0 {
		n.onVouched(s, c.vouch, e)
		return
	}
	if s.verifying != 0 {
		defer n.arm(&s.alarm, n.now.Mono, timer{kind: tRepair, in: s}) // the number waiting to be vouched for is asked now
	}
	if s.removed || len(s.held) == 0 {
		return
	}
	if e.Err != nil || e.Reply == nil {
		n.arm(&s.alarm, n.now.Mono+n.repairBackoff(s), timer{kind: tRepair, in: s})
		return
	}
	// The reply answers for what was asked, up to c.to, and never beyond
	// the highest number the source issued. The hole asked about may have
	// filled meanwhile by a late push and a new one opened further on:
	// that one the reply says nothing about.
	target := c.to
	if l := e.Reply.Latest; l > 0 && e.Reply.Instance == s.key.source {
		// What we held when we asked was sent before the source answered:
		// a number above the highest it had issued was never issued.
		n.dropImplausible(s, c.held, l)
		target = min(target, max(l, s.last))
	}
	if len(s.held) > 0 {
		target = min(target, s.held[0].PrevSeq)
	}
	if s.fromStart && e.Reply.Instance == s.key.source {
		// Numbers before the first it sent us were never ours; if it does
		// not know, only target itself surely was.
		start := e.Reply.FirstSent
		if start == 0 {
			start = target
		}
		n.passOver(s, start-1, gapBeforeFirst)
		s.fromStart = false
	}
	if e.Reply.Instance != s.key.source {
		n.reject(reasonResendWrongNode)
		n.declareGap(s, target, gapWrongInstance)
		n.restartRepair(s)
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
		msgs = append(msgs, n.loneMessage(env)) // none is held until all are made
	}
	slices.SortFunc(msgs, func(a, b *Message) int { return cmpU64(a.SourceSeq, b.SourceSeq) })
	for _, m := range msgs {
		if m.SourceSeq <= s.last {
			continue // a duplicate within the reply
		}
		if m.SourceSeq > s.last+1 {
			n.declareGap(s, m.SourceSeq-1, gapNotHeld)
		}
		if !n.firstSight(&m.Envelope) {
			// Already delivered under this id: only its number was missing.
			n.counters.Duplicates++
			s.skipped++
			s.last = m.SourceSeq
			continue
		}
		n.counters.Repaired++
		m.PrevSeq = 0
		if m.DroppedFrom() != 0 {
			m.Edit().DroppedFrom = 0
		}
		if m.Retain {
			n.takeRetained(m, false) // a lost retained publish is still the topic's value
		}
		n.take(s, m)
	}
	// The source answers for the whole range: what it did not send is gone.
	n.declareGap(s, target, gapNotHeld)
	n.restartRepair(s)
}

// Sources that went away. A source declared dead may come back (a paused
// process, a healed partition) and fill the holes it left from its ring,
// so its holes wait, held and unasked, until it returns, is replaced by a
// new instance at its address (whose ring knows nothing of them), or stays
// away longer than DepartedRetention: only then are they declared lost.
// Declaring them at once would lose for nothing what it pushes again on
// its return.
type awaySource struct {
	id, addr string
	since    time.Duration
	nth      uint64 // Node.departures when it went: one source may go many times
}

// sourceAway: a source peer at addr was declared dead; its holes wait for
// it.
func (n *Node) sourceAway(source, addr string) {
	if _, ok := n.awaySources[source]; ok {
		return
	}
	n.departures++
	a := awaySource{source, addr, n.now.Mono, n.departures}
	n.awaySources[source] = a
	n.departedAt[addr] = source
	n.awayOrder.pushBack(a)
	if n.awayOrder.len() > 2*maxDeparted { // mostly returns: keep the absences still current
		n.awayOrder.filter(func(a awaySource) bool { return n.awaySources[a.id].nth == a.nth })
	}
	n.forgetAwaySources()
}

// sourceBack: a source declared dead is back, or one whose holes came due
// before it was a peer is one now: its holes are asked for at once, with
// every try to come (those it was not a peer for asked nobody).
func (n *Node) sourceBack(source string) {
	_, away := n.awaySources[source]
	if !away && !n.unasked[source] {
		return
	}
	delete(n.awaySources, source)
	delete(n.unasked, source)
	n.eachStreamOf(source, func(s *inStream) {
		if len(s.held) > 0 && s.resendCall == 0 {
			s.attempts = 0
			n.arm(&s.alarm, n.now.Mono, timer{kind: tRepair, in: s})
		}
	})
}

// sourceGone: a source will never answer again (a new instance took its
// address, or it has been away too long): its holes are lost now.
func (n *Node) sourceGone(source string) {
	delete(n.awaySources, source)
	delete(n.unasked, source)
	delete(n.inStreams.evicted, source)
	n.eachStreamOf(source, func(s *inStream) {
		for len(s.held) > 0 {
			n.declareGap(s, s.held[0].PrevSeq, gapSourceGone)
		}
	})
}

// forgetAwaySources gives up on sources away longer than
// DepartedRetention, or beyond maxDeparted of them. It runs with every
// beacon.
func (n *Node) forgetAwaySources() {
	for n.awayOrder.len() > 0 {
		a := n.awayOrder.front()
		switch {
		case n.awaySources[a.id].nth != a.nth: // came back (and maybe went again: a later entry)
		case len(n.awaySources) > maxDeparted || n.now.Mono-a.since >= n.cfg.DepartedRetention:
			n.sourceGone(a.id)
			if n.departedAt[a.addr] == a.id && n.chains[a.id] == nil {
				delete(n.departedAt, a.addr)
			}
		default:
			return
		}
		n.awayOrder.popFront()
	}
}

// eachStreamOf visits the trackers of source's numberings, in creation
// order.
func (n *Node) eachStreamOf(source string, visit func(*inStream)) {
	tab := &n.inStreams
	for i := 0; i < tab.order.len(); i++ {
		if s := tab.order.at(i); !s.removed && s.key.source == source {
			visit(s)
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
