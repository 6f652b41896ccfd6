package state

// link carries our messages to one peer: pushes in flight up to PushWindow,
// then a backlog. A failed push goes back to the front of the backlog and
// the link rests for a backoff (PushRetryDelay, doubling to
// PushRetryMaxDelay) before pushing again, for as long as the peer lives.
// Retries can reorder and duplicate; the receiver's numbering and dedup
// put that right. The backlog is capped; what it sheds, the receiver sees
// as a hole and repairs from our ring.
type link struct {
	inflight   int
	backlog    deque[*Message]
	resting    bool
	failures   int // consecutive
	retryAlarm alarm
}

func (l *link) init() { l.retryAlarm = newAlarm() }

// send pushes m to p now if the link allows, or queues it.
func (n *Node) send(p *peer, m *Message) {
	l := &p.link
	if l.resting || l.inflight >= n.cfg.PushWindow || l.backlog.len() > 0 {
		if l.backlog.len() >= n.cfg.PeerBacklogLimit {
			l.backlog.popFront()
			n.counters.BacklogDropped++
		}
		l.backlog.pushBack(m)
		return
	}
	n.pushNow(p, m)
}

func (n *Node) pushNow(p *peer, m *Message) {
	p.link.inflight++
	n.counters.Forwarded++
	e := n.pushes.next()
	e.Call = n.newCall(call{kind: callPush, peer: p, msg: m})
	e.Peer, e.Addr, e.Msg = p.id, p.addr, m
	n.emit(e)
}

func (n *Node) onPushCompleted(e *PushCompleted) {
	c, ok := n.takeCall(e.Call, callPush)
	if !ok {
		return
	}
	p := c.peer
	l := &p.link
	l.inflight--
	if p.removed {
		return
	}
	if e.Err == nil {
		if !l.resting {
			l.failures = 0
			n.drainLink(p)
		}
		return
	}
	n.counters.PushFailures++
	if l.backlog.len() >= n.cfg.PeerBacklogLimit {
		n.counters.BacklogDropped++
	} else {
		l.backlog.pushFront(c.msg)
	}
	if !l.resting {
		l.resting = true
		l.failures++
		wait := min(n.cfg.PushRetryDelay<<min(l.failures-1, 16), n.cfg.PushRetryMaxDelay)
		n.arm(&l.retryAlarm, n.now.Mono+wait, timer{kind: tPushRetry, peer: p})
	}
}

// retryLink ends a link's rest and pushes its backlog again.
func (n *Node) retryLink(p *peer) {
	p.link.resting = false
	n.drainLink(p)
}

func (n *Node) drainLink(p *peer) {
	l := &p.link
	for !l.resting && l.inflight < n.cfg.PushWindow && l.backlog.len() > 0 {
		m := l.backlog.popFront()
		if m.expired(n.now.WallMs) {
			n.counters.Expired++
			continue
		}
		n.pushNow(p, m)
	}
}

// LinkState describes pushes to one peer, for status pages.
type LinkState struct {
	InFlight int
	Backlog  int
	Resting  bool
}
