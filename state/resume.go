package state

import (
	"slices"
)

// Resume: a subscription comes back on a new stream and catches up. The
// catch-up is planned within one Step from what the rings hold now, and
// live messages numbered after that plan queue behind it, so replay and
// live meet with no gap and no duplicate.

func (n *Node) onResumed(e *Resumed) {
	if err := n.checkStream(e.Stream, e.Credit, e.CreditBytes); err != nil {
		n.emit(&EndStream{Stream: e.Stream, Err: err})
		return
	}
	if e.Mode > RecoverReplay {
		n.reject(reasonBadArgument)
		n.emit(&EndStream{Stream: e.Stream, Err: errorf(Invalid, "gap recovery mode %d: want none, retained-only or replay-buffer", e.Mode)})
		return
	}
	var s *subscription
	if e.SubID == "" {
		// Resume by topics: a new subscription that catches up from the
		// given sequences (a client whose daemon lost its subscription).
		var err error
		s, err = n.openSubscription(e.Stream, e.Patterns, e.QueueLimit, e.Policy, e.Credit, e.CreditBytes, "")
		if err != nil {
			n.emit(&EndStream{Stream: e.Stream, Err: err})
			return
		}
		s.clientID = e.ClientID
		s.resumeWindow = min(max(e.ResumeWindow, 0), n.cfg.PausedTTL)
		s.createdIndex = n.buffer.index // nothing to replay beyond LastSeq
		s.reportsSent = e.ReportsSent
	} else {
		s = n.subs[e.SubID]
		if s == nil {
			n.reject(reasonUnknownSub)
			n.emit(&EndStream{Stream: e.Stream, Err: errorf(NotFound, "subscription %q is unknown or its pause expired: subscribe again", e.SubID)})
			return
		}
		if len(e.Patterns) > 0 {
			pats := slices.Clone(e.Patterns)
			slices.Sort(pats)
			if !slices.Equal(slices.Compact(pats), s.patterns) {
				n.reject(reasonBadArgument)
				n.emit(&EndStream{Stream: e.Stream, Err: errorf(Invalid, "topics %v differ from subscription %s's %v: resume with the same topics or subscribe anew", e.Patterns, e.SubID, s.patterns)})
				return
			}
		}
		n.detach(s) // a resume takes over a stream that is still attached
		n.attach(s, e.Stream, e.Credit, e.CreditBytes)
		s.reportsSent = e.ReportsSent
		if e.ResumeWindow > 0 {
			s.resumeWindow = min(e.ResumeWindow, n.cfg.PausedTTL)
		}
	}
	s.receiveRetained = s.receiveRetained || e.ReceiveRetained
	s.byNumber = e.ByNumber
	info := &SubscriptionInfo{SubID: s.id, Patterns: s.patterns, WallMs: n.now.WallMs}
	s.pending.pushBack(Out{Kind: OutInfo, Info: info})
	missed, known := 0, true
	if s.group == "" {
		missed, known = n.catchUp(s, e.LastSeq, e.Mode, info)
	} else if e.Mode == RecoverRetained {
		// A group member replays nothing: what it missed went to other
		// members (groups.go).
		n.queueRetained(s)
	}
	info.GapDetected = missed > 0 || !known
	info.Missed = missed
	if !known {
		info.Missed = -1
	}
	if e.ReceiveRetained && e.Mode != RecoverRetained {
		n.queueRetained(s)
	}
	if s.lossSinceWarn {
		// The old stream ended before its warning went out (detach drops
		// it): warn on the new one, so no loss goes unreported.
		n.noteLoss(s, s.warnReason)
	}
	n.pump(s)
}

// catchUp queues the subscription's recovery and returns how many
// messages it cannot recover, and whether that count is exact.
func (n *Node) catchUp(s *subscription, lastSeq map[string]uint64, mode Recovery, info *SubscriptionInfo) (missed int, known bool) {
	known = true
	budget := n.cfg.ReplayLimitPerResume
	for _, t := range n.topicsMatching(s.patterns) {
		last, given := lastSeq[t.name]
		restarted := given && last > t.head
		if restarted {
			// Our numbering restarted since the client's: it cannot be
			// lined up, so everything held is new to the client, however
			// old the subscription (a resume by topics is one made now).
			known = false
			last, given = 0, false
		}
		var plan []*Message
		skipped := 0
		for i := 0; i < t.ring.len(); i++ {
			m := t.ring.at(i)
			switch {
			case given && m.Seq <= last:
			case !given && !restarted && m.index <= s.createdIndex:
			case m.expired(n.now.WallMs):
				skipped++
			default:
				plan = append(plan, m)
			}
		}
		topicMissed := skipped
		if given && t.head > last {
			topicMissed = int(t.head-last) - len(plan) // evicted, expired or lost in the mesh
		} else if !given && t.gone > s.createdIndex {
			// Messages it never saw left the ring (evicted or expired) and
			// the count of them is not kept: a gap of unknown size, never
			// a silent one.
			known = false
		}
		if mode != RecoverReplay || (len(plan) == 0 && topicMissed == 0) {
			missed += topicMissed
			continue
		}
		if len(plan) > budget {
			topicMissed += len(plan) - budget
			plan = plan[len(plan)-budget:]
		}
		// What one subscription may hold (QueueBytes) bounds its replay
		// too: the newest messages are replayed, the rest reported missed.
		planBytes := 0
		for _, m := range plan {
			planBytes += m.cost()
		}
		for len(plan) > 0 && s.bytes+planBytes > n.cfg.QueueBytes {
			planBytes -= plan[0].cost()
			plan = plan[1:]
			topicMissed++
		}
		missed += topicMissed
		// A topic with nothing left to replay still gets its
		// replay_complete: its latest number tells the client, topic by
		// topic, where the missed messages were.
		budget -= len(plan)
		for _, m := range plan {
			n.subHold(s, m)
			s.pending.pushBack(Out{Kind: OutReplay, Msg: m})
		}
		s.pending.pushBack(Out{Kind: OutReplayComplete, Done: &ReplayDone{Topic: t.name, Count: len(plan), Latest: t.head}})
		info.ReplayStarted = true
	}
	// A topic the client numbered that this node no longer numbers at all.
	for topic, last := range lastSeq {
		if last > 0 && n.topics.get(topic) == nil && matchesAny(s.patterns, topic) {
			known = false
		}
	}
	if mode == RecoverRetained {
		n.queueRetained(s)
	}
	return missed, known
}

// topicsMatching lists the numbered topics any of patterns match, by name.
func (n *Node) topicsMatching(patterns []string) []*topicState {
	var out []*topicState
	for name, t := range n.topics.m {
		if matchesAny(patterns, name) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *topicState) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	return out
}

func matchesAny(patterns []string, topic string) bool {
	for _, p := range patterns {
		if Match(p, topic) {
			return true
		}
	}
	return false
}
