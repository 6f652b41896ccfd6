package state

import "time"

// Subscription queues and credit. The node hands a subscription's events
// out only as its shell grants credit (room in the stream's send buffer),
// so a slow consumer's backlog stays here, bounded by the subscription's
// limit and policy, and never delays another subscription.

type blockedMsg struct {
	m        *Message
	pub      *pendingPublish // nil for messages from peers
	deadline time.Duration
}

// enqueue offers a live message to an active subscription.
func (n *Node) enqueue(s *subscription, m *Message) {
	p := n.pub
	if p != nil {
		p.result.Subscribers++
	}
	if s.blocked.len() == 0 {
		if s.credit > 0 && s.pending.len() == 0 && s.queue.len() == 0 {
			if m.expired(n.now.WallMs) { // held back by mesh repair past its TTL
				n.expire(s)
				n.pump(s) // hands out the warning
				return
			}
			n.deliver(s, Out{Kind: OutMessage, Msg: m})
			return
		}
		if s.queue.len() < s.limit {
			s.queue.pushBack(m)
			return
		}
	}
	switch s.policy {
	case DropNewest:
		n.drop(s, "burst")
		if p != nil {
			p.result.Dropped++
		}
	case Block:
		if s.blocked.len() >= n.cfg.BlockedLimit {
			n.timeOutBlocked(s) // the longest waiter gives way early
		}
		if p == &n.pubScratch { // this publish will be answered later
			p = new(pendingPublish)
			*p = n.pubScratch
			n.pub = p
		}
		if p != nil {
			p.waiting++
			p.result.Blocked++
		}
		s.blocked.pushBack(blockedMsg{m: m, pub: p, deadline: n.now.Mono + n.cfg.BlockTimeout})
		if s.blocked.len() == 1 {
			n.arm(&s.blockAlarm, n.now.Mono+n.cfg.BlockTimeout, timer{kind: tBlock, sub: s})
		}
	default: // DropOldest
		s.queue.popFront()
		n.drop(s, "slow_consumer")
		if p != nil {
			p.result.Dropped++
		}
		s.queue.pushBack(m)
	}
}

// pump hands out what the subscription's credit allows: pending events
// first, then live messages, refilling the queue from blocked messages as
// room appears.
func (n *Node) pump(s *subscription) {
	for {
		for s.credit > 0 {
			if s.pending.len() > 0 {
				o := s.pending.popFront()
				switch o.Kind {
				case OutWarning:
					o.Warning = n.warning(s)
				case OutRetained, OutReplay:
					if o.Msg.expired(n.now.WallMs) {
						if o.Kind == OutReplay {
							// Expired after the replay was planned: it is
							// not replayed, so not counted, and reported.
							s.replayExpired++
							n.expire(s)
						}
						continue
					}
				case OutReplayComplete:
					o.Done.Count -= s.replayExpired
					s.replayExpired = 0
				}
				n.deliver(s, o)
				continue
			}
			if s.queue.len() == 0 {
				break
			}
			m := s.queue.popFront()
			if m.expired(n.now.WallMs) {
				n.expire(s)
				continue
			}
			n.deliver(s, Out{Kind: OutMessage, Msg: m})
		}
		if s.blocked.len() == 0 || s.queue.len() >= s.limit {
			return
		}
		for s.blocked.len() > 0 && s.queue.len() < s.limit {
			b := s.blocked.popFront()
			s.queue.pushBack(b.m)
			n.unblock(b.pub)
		}
		n.rearmBlock(s)
		if s.credit == 0 {
			return
		}
	}
}

func (n *Node) deliver(s *subscription, o Out) {
	d := n.delivers.next()
	d.Stream, d.Out = s.stream, o
	n.emit(d)
	s.credit--
	switch o.Kind {
	case OutMessage:
		s.delivered++
		n.counters.DeliveredLocal++
	case OutReplay:
		s.delivered++
		n.counters.Replayed++
	case OutRetained:
		n.counters.RetainedSent++
	}
	s.lastActivity = n.now.Mono
	n.arm(&s.heartbeatAlarm, s.lastActivity+n.cfg.HeartbeatInterval, timer{kind: tHeartbeat, sub: s})
}

func (n *Node) unblock(p *pendingPublish) {
	if p == nil {
		return
	}
	p.waiting--
	if p.waiting == 0 {
		n.completePublish(p)
	}
}

// timeOutBlocked moves the longest-waiting blocked message into the queue,
// dropping the oldest queued message to make room.
func (n *Node) timeOutBlocked(s *subscription) {
	b := s.blocked.popFront()
	if s.queue.len() >= s.limit {
		s.queue.popFront()
		n.drop(s, "slow_consumer")
		if b.pub != nil {
			b.pub.result.Dropped++
		}
	}
	s.queue.pushBack(b.m)
	n.counters.BlockTimeouts++
	n.unblock(b.pub)
}

func (n *Node) blockDue(s *subscription) {
	for s.blocked.len() > 0 && s.blocked.front().deadline <= n.now.Mono {
		n.timeOutBlocked(s)
	}
	n.pump(s)
	n.rearmBlock(s)
}

func (n *Node) rearmBlock(s *subscription) {
	if s.blocked.len() > 0 {
		n.arm(&s.blockAlarm, s.blocked.front().deadline, timer{kind: tBlock, sub: s})
	} else {
		s.blockAlarm.want = Never
	}
}

func (n *Node) drop(s *subscription, reason string) {
	s.dropped++
	n.counters.Dropped++
	n.noteLoss(s, reason)
}

func (n *Node) expire(s *subscription) {
	s.expired++
	n.counters.Expired++
	n.noteLoss(s, "ttl_expired")
}

// noteLoss schedules a backpressure warning: at once if none went out in
// the last WarningInterval, else when the interval is up.
func (n *Node) noteLoss(s *subscription, reason string) {
	s.lossSinceWarn = true
	s.warnReason = reason
	if s.warnQueued || s.stream == 0 {
		return
	}
	if s.warned && n.now.Mono < s.lastWarn+n.cfg.WarningInterval {
		n.arm(&s.warnAlarm, s.lastWarn+n.cfg.WarningInterval, timer{kind: tWarning, sub: s})
		return
	}
	s.warnQueued = true
	s.pending.pushBack(Out{Kind: OutWarning})
}

func (n *Node) warnDue(s *subscription) {
	if s.lossSinceWarn && !s.warnQueued && s.stream != 0 {
		s.warnQueued = true
		s.pending.pushBack(Out{Kind: OutWarning})
		n.pump(s)
	}
}

// warning fills in a warning as it is handed out, so it reports the
// totals of that moment.
func (n *Node) warning(s *subscription) *Warning {
	s.warnQueued = false
	s.lossSinceWarn = false
	s.warned = true
	s.lastWarn = n.now.Mono
	n.counters.Warnings++
	w := &Warning{Dropped: s.dropped, Expired: s.expired, Lost: s.lost, Depth: s.queue.len() + s.blocked.len(), Limit: s.limit, Reason: s.warnReason}
	if s.queue.len() > 0 {
		w.OldestAgeMs = n.now.WallMs - s.queue.front().TimestampMs
	}
	return w
}
