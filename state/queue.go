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

// subHold and subRelease are the only ways a message enters or leaves what
// a subscription holds (queue, blocked, pending replay and retained), so
// its bytes, and the node's, stay exact.
// (queueRest is their bulk form.) subHold counts the message's hold
// (slab.go) too; a caller of subRelease releases it once it has done
// with the message, as the release may free it.
func (n *Node) subHold(s *subscription, m *Message) {
	c := m.cost()
	s.bytes += c
	n.charge(memQueues, c)
	hold(m)
}

func (n *Node) subRelease(s *subscription, m *Message) {
	c := m.cost()
	s.bytes -= c
	n.charge(memQueues, -c)
}

// overQueue reports whether the subscription holds more than its caps allow
// with extra bytes more: its limit in messages, or QueueBytes. One message
// is always let in, however large.
func (n *Node) overQueue(s *subscription, extra int) bool {
	return s.queue.len() >= s.limit || (s.bytes+extra > n.cfg.QueueBytes && s.queue.len()+s.blocked.len() > 0)
}

// enqueue offers a live message to an active subscription.
func (n *Node) enqueue(s *subscription, m *Message) {
	p := n.pub
	if p != nil {
		p.result.Subscribers++
	}
	if s.blocked.len() == 0 {
		if n.canHandOut(s) && s.pending.len() == 0 && s.queue.len() == 0 {
			if m.expired(n.now.WallMs) { // held back by mesh repair past its TTL
				n.expire(s)
				n.pump(s) // hands out the warning
				return
			}
			n.handOutLive(s, m)
			return
		}
		if !n.overQueue(s, m.cost()) {
			n.subHold(s, m)
			s.queue.pushBack(m)
			return
		}
	}
	switch s.policy {
	case DropNewest:
		n.drop(s, "burst", m)
		if p != nil {
			p.result.Dropped++
		}
	case Block:
		for s.blocked.len() > 0 && (s.blocked.len() >= n.cfg.BlockedLimit || s.bytes+m.cost() > n.cfg.QueueBytes) {
			n.timeOutBlocked(s) // the longest waiter gives way early
		}
		if s.blocked.len() == 0 && s.queue.len() > 0 && s.bytes+m.cost() > n.cfg.QueueBytes {
			// Blocked bytes are held like queued ones, so m may not wait
			// past the byte cap: like a waiter out of time, it takes the
			// oldest's place at once.
			for s.queue.len() > 0 && (s.queue.len() >= s.limit || s.bytes+m.cost() > n.cfg.QueueBytes) {
				n.dropOldest(s, "slow_consumer")
				if p != nil {
					p.result.Dropped++
				}
			}
			n.subHold(s, m)
			s.queue.pushBack(m)
			return
		}
		if p == &n.pubScratch { // this publish will be answered later
			p = n.newPending()
			*p = n.pubScratch
			n.pub = p
		}
		if p != nil {
			p.waiting++
			p.result.Blocked++
		}
		n.subHold(s, m)
		s.blocked.pushBack(blockedMsg{m: m, pub: p, deadline: n.now.Mono + n.cfg.BlockTimeout})
		if s.blocked.len() == 1 {
			n.arm(&s.blockAlarm, n.now.Mono+n.cfg.BlockTimeout, timer{kind: tBlock, sub: s})
		}
	default: // DropOldest
		for n.overQueue(s, m.cost()) && s.queue.len() > 0 {
			n.dropOldest(s, "slow_consumer")
			if p != nil {
				p.result.Dropped++
			}
		}
		n.subHold(s, m)
		s.queue.pushBack(m)
	}
}

// dropOldest drops the oldest queued message for reason.
func (n *Node) dropOldest(s *subscription, reason string) {
	m := s.queue.popFront()
	n.subRelease(s, m)
	n.drop(s, reason, m)
	n.release(m)
}

// shedQueued makes s give up one message for the node's budget, by its
// policy: the oldest (drop-oldest), the newest (drop-newest), or the
// longest waiter timed out (block).
func (n *Node) shedQueued(s *subscription) {
	switch {
	case s.policy == Block && s.blocked.len() > 0:
		n.timeOutBlocked(s)
		if s.queue.len() > 0 {
			n.dropOldest(s, "memory_budget")
		}
	case s.policy == DropNewest && s.queue.len() > 0:
		m := s.queue.popBack()
		n.subRelease(s, m)
		n.drop(s, "memory_budget", m)
		n.release(m)
	case s.queue.len() > 0:
		n.dropOldest(s, "memory_budget")
	default:
		n.timeOutBlocked(s)
	}
	n.pump(s)
}

// canHandOut reports whether the subscription's stream can take an event
// now: it has credit, in events and (when the shell counts them) bytes.
func (n *Node) canHandOut(s *subscription) bool {
	return s.credit > 0 && (!s.byteCredit || s.creditBytes > 0)
}

// pump hands out what the subscription's credit allows: pending events
// first, then live messages, refilling the queue from blocked messages as
// room appears.
func (n *Node) pump(s *subscription) {
	for {
		for n.canHandOut(s) {
			if s.pending.len() > 0 {
				o := s.pending.popFront()
				if o.Msg != nil {
					n.subRelease(s, o.Msg)
				}
				if s.pending.len() == 0 {
					// Drained (its first info, a replay): an idle
					// subscription keeps no buffer for the next.
					s.pending.clear()
				}
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
						n.release(o.Msg)
						continue
					}
				case OutReplayComplete:
					o.Done.Count -= s.replayExpired
					s.replayExpired = 0
				}
				n.deliver(s, o)
				if o.Msg != nil {
					n.release(o.Msg) // handed out: deliver holds it now
				}
				continue
			}
			if s.queue.len() == 0 {
				break
			}
			m := s.queue.popFront()
			n.subRelease(s, m)
			if m.expired(n.now.WallMs) {
				n.expire(s)
				n.release(m)
				continue
			}
			n.handOutLive(s, m)
			n.release(m) // handed out: deliver holds it now
		}
		if s.blocked.len() == 0 || s.queue.len() >= s.limit {
			return
		}
		for s.blocked.len() > 0 && s.queue.len() < s.limit {
			b := s.blocked.popFront() // its bytes stay held: blocked and queued count alike
			s.queue.pushBack(b.m)
			n.unblock(b.pub)
		}
		n.rearmBlock(s)
		if !n.canHandOut(s) {
			return
		}
	}
}

func (n *Node) deliver(s *subscription, o Out) *Deliver {
	d := n.delivers.next()
	d.More, d.slot, d.bytes = 0, 0, 0
	// Field by field from the registers o came in: a copy of o whole
	// reads back its spilled halves at once, which stalls.
	d.Stream = s.stream
	d.Out.Kind, d.Out.Msg, d.Out.Info, d.Out.Done, d.Out.Warning, d.Out.WallMs = o.Kind, o.Msg, o.Info, o.Done, o.Warning, o.WallMs
	if o.Msg != nil && (!s.byNumber || o.Kind != OutMessage) {
		n.named(o.Msg) // a stream by number has replays and retained values sent as v1 events
	}
	n.emit(d)
	n.handedOut(s, o.Kind, o.Msg)
	return d
}

// handedOut takes note of an event of kind k (with message m, if any)
// handed out on s's stream, in a Deliver of its own or joining a run
// (deliver_run.go join): the credit it used and what holds m until sent.
func (n *Node) handedOut(s *subscription, k OutKind, m *Message) {
	s.outs++
	s.handOut(m)
	s.credit--
	if s.byteCredit && m != nil {
		s.creditBytes -= len(m.Payload) + len(m.Topic)
	}
	switch k {
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
		if p != n.pub && len(n.freePubs) < maxFreePubs { // nothing refers to it now
			*p = pendingPublish{}
			n.freePubs = append(n.freePubs, p)
		}
	}
}

// maxFreePubs bounds the answered publishes kept to be made again: a
// subscription holds up to BlockedLimit waiting, each of another publish.
const maxFreePubs = 8192

// newPending is a pendingPublish for a publish whose answer waits: one
// answered before, or a new one. A publish held by a slow subscriber's
// Block policy needs one each; made anew, they were a twentieth of a
// daemon's time while its publisher outran the subscriber.
func (n *Node) newPending() *pendingPublish {
	if k := len(n.freePubs); k > 0 {
		p := n.freePubs[k-1]
		n.freePubs[k-1] = nil
		n.freePubs = n.freePubs[:k-1]
		return p
	}
	return new(pendingPublish)
}

// timeOutBlocked moves the longest-waiting blocked message into the queue,
// dropping the oldest queued messages to make room (in messages and bytes).
func (n *Node) timeOutBlocked(s *subscription) {
	b := s.blocked.popFront()
	for s.queue.len() > 0 && (s.queue.len() >= s.limit || s.bytes > n.cfg.QueueBytes) {
		n.dropOldest(s, "slow_consumer")
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

// drop counts m, which s will never get, as dropped for reason.
func (n *Node) drop(s *subscription, reason string, m *Message) {
	s.dropped++
	n.counters.Dropped++
	n.shed(memQueues, m.cost())
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
