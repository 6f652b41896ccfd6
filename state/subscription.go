package state

import (
	"slices"
	"time"
)

// A subscription is a set of patterns and a stream to deliver on. While
// active it has a stream; paused, it has none but keeps its patterns in
// the node's hash, so messages keep arriving into the rings it will replay
// from. It ends when its stream ends without pause, when unsubscribed, or
// when its pause runs out.
type subscription struct {
	id, clientID    string
	patterns        []string // sorted, distinct
	receiveRetained bool
	byNumber        bool   // its stream needs no rendered ids (Subscribed.ByNumber)
	stream          uint64 // 0 while paused
	paused, removed bool
	resumeWindow    time.Duration // kept paused this long when its stream breaks
	createdIndex    uint64        // buffer arrivals before it started
	mark            uint64        // per-publish dedup

	// groups.go
	group string            // queue group; "" = ordinary
	live  bool              // counted among the group's live members
	gseq  map[string]uint64 // a member's own numbering per topic

	// queue.go
	limit  int
	policy Policy
	credit int
	bytes  int // what queue, blocked and pending hold (memory.go)

	byteCredit  bool            // the shell counts its stream's room in bytes too
	creditBytes int             // that room: payload and topic bytes it can take
	pending     deque[Out]      // info, retained, replay, warnings: before live
	queue       deque[*Message] // live messages, at most limit
	blocked     deque[blockedMsg]
	reportsSent bool           // its shell reports what it sent (Subscribed.ReportsSent)
	handed      deque[handout] // events handed out, oldest first, not reported sent (slab.go)
	handedMsgs  int            // counted messages among them, at most maxHanded
	outs        uint64         // events handed out, all told: a run grows while nothing else is (deliver_run.go)
	run         *Deliver       // the run handed out last, which the next live message may join
	runLast     *Message       // its last message
	runOuts     uint64         // outs after its last message
	runStep     uint64         // the Node.step it was handed out in: good for that step alone

	replayExpired int // replays of the topic being replayed that expired unsent

	lastActivity   time.Duration
	heartbeatAlarm alarm
	blockAlarm     alarm
	pauseAlarm     alarm
	pausedUntil    time.Duration

	dropped, expired uint64 // totals, as warnings report them
	lost             uint64 // messages on its topics declared lost in the mesh
	delivered        uint64
	lossSinceWarn    bool
	warnQueued       bool
	warned           bool
	lastWarn         time.Duration
	warnReason       string
	warnAlarm        alarm
}

// maxPatternsPerSub bounds one request; the node-wide cap is MaxPatterns.
const maxPatternsPerSub = 256

func (n *Node) onSubscribed(e *Subscribed) {
	if e.Group != "" {
		if err := ValidateGroup(e.Group); err != nil {
			n.reject(reasonBadArgument)
			n.emit(&EndStream{Stream: e.Stream, Err: err})
			return
		}
	}
	s, err := n.openSubscription(e.Stream, e.Patterns, e.QueueLimit, e.Policy, e.Credit, e.CreditBytes, e.Group)
	if err != nil {
		n.emit(&EndStream{Stream: e.Stream, Err: err})
		return
	}
	s.clientID = e.ClientID
	s.receiveRetained = e.ReceiveRetained
	s.byNumber = e.ByNumber
	s.reportsSent = e.ReportsSent
	s.resumeWindow = min(max(e.ResumeWindow, 0), n.cfg.PausedTTL)
	s.pending.pushBack(Out{Kind: OutInfo, Info: &SubscriptionInfo{SubID: s.id, Patterns: s.patterns, WallMs: n.now.WallMs}})
	if e.ReceiveRetained {
		n.queueRetained(s)
	}
	n.pump(s)
}

// openSubscription validates a request and starts an attached subscription.
func (n *Node) openSubscription(stream uint64, patterns []string, limit int, policy Policy, credit, creditBytes int, group string) (*subscription, error) {
	if err := n.checkStream(stream, credit, creditBytes); err != nil {
		return nil, err
	}
	pats, err := n.checkPatterns(patterns)
	if err != nil {
		return nil, err
	}
	if limit, policy, err = n.checkQueue(limit, policy); err != nil {
		return nil, err
	}
	if len(n.subs) >= n.cfg.MaxSubscriptions {
		n.reject(reasonSubLimit)
		return nil, errorf(Limit, "this node holds %d subscriptions, its limit: end or resume paused ones first", len(n.subs))
	}
	s := &subscription{
		id: NewUUID(n.rand), patterns: pats, limit: limit, policy: policy,
		createdIndex: n.buffer.index, group: group,
		heartbeatAlarm: newAlarm(), blockAlarm: newAlarm(), pauseAlarm: newAlarm(), warnAlarm: newAlarm(),
	}
	n.subs[s.id] = s
	n.addPatterns(pats, s)
	n.attach(s, stream, credit, creditBytes)
	return s, nil
}

func (n *Node) checkStream(stream uint64, credit, creditBytes int) error {
	switch {
	case stream == 0:
		n.reject(reasonBadArgument)
		return errorf(Invalid, "stream handle 0 is reserved")
	case n.streams[stream] != nil:
		n.reject(reasonBadArgument)
		return errorf(Invalid, "stream handle %d is already in use", stream)
	case credit < 0 || creditBytes < 0:
		n.reject(reasonBadArgument)
		return errorf(Invalid, "credit %d (%d bytes) is negative", credit, creditBytes)
	}
	return nil
}

// checkPatterns validates, sorts and deduplicates a request's patterns and
// checks the node-wide pattern cap.
func (n *Node) checkPatterns(patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		n.reject(reasonBadArgument)
		return nil, errorf(Invalid, "no topics given: subscribe to at least one topic or pattern")
	}
	if len(patterns) > maxPatternsPerSub {
		n.reject(reasonBadArgument)
		return nil, errorf(Invalid, "%d topics in one subscription: the limit is %d", len(patterns), maxPatternsPerSub)
	}
	for _, p := range patterns {
		if err := ValidatePattern(p, n.cfg.MaxTopicBytes, n.cfg.MaxTopicLevels); err != nil {
			n.reject(reasonBadTopic)
			return nil, err
		}
	}
	pats := slices.Clone(patterns)
	slices.Sort(pats)
	pats = slices.Compact(pats)
	fresh := 0
	for _, p := range pats {
		if n.patternRefs[p] == 0 {
			fresh++
		}
	}
	if len(n.patternRefs)+fresh > n.cfg.MaxPatterns {
		n.reject(reasonPatternLimit)
		return nil, errorf(Limit, "this node already holds %d distinct patterns and the limit is %d", len(n.patternRefs), n.cfg.MaxPatterns)
	}
	return pats, nil
}

func (n *Node) checkQueue(limit int, policy Policy) (int, Policy, error) {
	if limit < 0 {
		n.reject(reasonBadArgument)
		return 0, 0, errorf(Invalid, "max_buffer_size %d is negative: give 0 for the daemon's limit", limit)
	}
	if limit == 0 || limit > n.cfg.QueueLimit {
		limit = n.cfg.QueueLimit
	}
	if policy == PolicyDefault {
		policy = n.cfg.DefaultPolicy
	}
	if policy > Block {
		n.reject(reasonBadArgument)
		return 0, 0, errorf(Invalid, "backpressure policy %d: want drop-oldest, drop-newest or block", policy)
	}
	return limit, policy, nil
}

// attach gives s a stream; the caller says whether its shell reports what
// it sent (reportsSent) before anything is handed out on it.
func (n *Node) attach(s *subscription, stream uint64, credit, creditBytes int) {
	s.stream = stream
	// What an earlier stream was handed stays held: its shell may still
	// be writing it out.
	n.abandonHanded(s)
	s.handed.clear()
	s.handedMsgs = 0
	s.reportsSent = false
	s.credit = credit
	s.byteCredit, s.creditBytes = creditBytes > 0, creditBytes
	s.paused = false
	s.pauseAlarm.want = Never
	n.streams[stream] = s
	n.memberLive(s, true)
	s.lastActivity = n.now.Mono
	n.arm(&s.heartbeatAlarm, s.lastActivity+n.cfg.HeartbeatInterval, timer{kind: tHeartbeat, sub: s})
}

// detach ends the subscription's stream and empties what was waiting for
// it. Blocked publishers are answered: their messages are in the rings.
func (n *Node) detach(s *subscription) {
	if s.stream != 0 {
		n.emit(&EndStream{Stream: s.stream})
		delete(n.streams, s.stream)
		s.stream = 0
	}
	n.memberLive(s, false)
	s.credit, s.creditBytes = 0, 0
	n.abandonHanded(s)
	s.handed.clear() // held for good: the shell may still be writing them
	s.handedMsgs = 0
	for i := 0; i < s.pending.len(); i++ {
		if m := s.pending.atPtr(i).Msg; m != nil {
			n.abandon(m.slab)
		}
	}
	s.pending.clear()
	s.replayExpired = 0
	for i := 0; i < s.queue.len(); i++ {
		n.abandon(s.queue.at(i).slab)
	}
	s.queue.clear()
	for s.blocked.len() > 0 {
		b := s.blocked.popFront()
		if b.m != nil {
			n.abandon(b.m.slab)
		}
		n.unblock(b.pub)
	}
	s.blocked.clear()
	n.charge(memQueues, -s.bytes)
	s.bytes = 0
	s.warnQueued = false
	s.heartbeatAlarm.want = Never
	s.blockAlarm.want = Never
	s.warnAlarm.want = Never
}

func (n *Node) removeSubscription(s *subscription) {
	n.detach(s)
	n.removePatterns(s.patterns, s)
	delete(n.subs, s.id)
	s.removed = true
}

func (n *Node) onUnsubscribed(e *Unsubscribed) {
	done := &CompleteUnsubscribe{Req: e.Req}
	n.emit(done)
	s := n.subs[e.SubID]
	if s == nil {
		n.reject(reasonUnknownSub)
		done.Err = errorf(NotFound, "subscription %q is unknown or its pause expired: subscribe again", e.SubID)
		return
	}
	if !e.Pause {
		n.removeSubscription(s)
		return
	}
	if !s.paused {
		n.pause(s, n.cfg.PausedTTL)
	}
	done.PauseTTL = s.pausedUntil - n.now.Mono
}

// pause detaches s and keeps it for ttl: its patterns stay in our hash and
// what arrives on its topics goes on into the rings, for a resume to
// replay.
func (n *Node) pause(s *subscription, ttl time.Duration) {
	n.detach(s)
	s.paused = true
	s.pausedUntil = n.now.Mono + ttl
	n.arm(&s.pauseAlarm, s.pausedUntil, timer{kind: tPause, sub: s})
}

func (n *Node) pauseExpired(s *subscription) {
	if s.paused {
		n.removeSubscription(s)
	}
}

// onStreamClosed: a stream ended without Unsubscribed. A subscription that
// asked for a resume window is kept paused for it (its client's connection
// broke; it will resume by id and miss nothing the rings hold); any other
// is removed, and its patterns leave our hash.
func (n *Node) onStreamClosed(e *StreamClosed) {
	s := n.streams[e.Stream]
	switch {
	case s == nil:
	case s.resumeWindow > 0:
		n.counters.SubscriptionsOrphaned++
		n.pause(s, s.resumeWindow)
	default:
		n.removeSubscription(s)
	}
}

func (n *Node) onCredit(e *CreditGranted) {
	if e.N < 0 || e.Bytes < 0 || e.Sent < 0 || (e.N == 0 && e.Bytes == 0 && e.Sent == 0) {
		n.reject(reasonBadArgument)
		return
	}
	s := n.streams[e.Stream]
	if s == nil {
		return // the stream ended while the credit was on its way
	}
	n.sent(s, e.Sent)
	s.credit = min(s.credit+e.N, 1<<30)
	if s.byteCredit {
		s.creditBytes = min(s.creditBytes+e.Bytes, 1<<40)
	}
	n.pump(s)
}

// queueRetained queues the live retained value of every topic the
// subscription matches, by topic.
func (n *Node) queueRetained(s *subscription) {
	for _, m := range n.retainedFor(s.patterns) {
		n.subHold(s, m)
		s.pending.pushBack(Out{Kind: OutRetained, Msg: m})
	}
}

func (n *Node) heartbeatDue(s *subscription) {
	if s.stream == 0 {
		return
	}
	if s.credit > 0 && s.pending.len() == 0 && s.queue.len() == 0 {
		n.counters.Heartbeats++
		n.deliver(s, Out{Kind: OutHeartbeat, WallMs: n.now.WallMs})
		return
	}
	// Not idle, only slow: its stream has events waiting.
	n.arm(&s.heartbeatAlarm, n.now.Mono+n.cfg.HeartbeatInterval, timer{kind: tHeartbeat, sub: s})
}
