package state

// link carries our messages to one peer: pushes in flight up to PushWindow,
// then a backlog. A failed push goes back to the front of the backlog and
// the link rests for a backoff (PushRetryDelay, doubling to
// PushRetryMaxDelay) before pushing again, for as long as the peer lives.
// Retries can reorder and duplicate; the receiver's numbering and dedup
// put that right. The backlog is capped; what it sheds, the receiver sees
// as a hole (each push names the previous number sent on its topic) and
// repairs from our ring.
type link struct {
	inflight   int
	backlog    deque[outgoing]
	resting    bool
	failures   int    // consecutive
	chain      *chain // chain.go: what we routed to this peer
	retryAlarm alarm
}

type outgoing struct {
	m        *Message
	prev     uint64
	syncOnly bool // a retained value the peer lacks, not a message for it
}

func (l *link) init() { l.retryAlarm = newAlarm() }

// send routes m to p: it is pushed now if the link allows, or queued.
func (n *Node) send(p *peer, m *Message) {
	o := outgoing{m: m}
	if m.SourceSeq > 0 && m.Source == n.cfg.NodeID {
		o.prev = n.record(p.link.chain, m)
	}
	n.enqueuePush(p, o)
}

func (n *Node) enqueuePush(p *peer, o outgoing) {
	l := &p.link
	if l.resting || l.inflight >= n.cfg.PushWindow || l.backlog.len() > 0 {
		if l.backlog.len() >= n.cfg.PeerBacklogLimit {
			l.backlog.popFront()
			n.counters.BacklogDropped++
		}
		l.backlog.pushBack(o)
		return
	}
	n.pushNow(p, o)
}

func (n *Node) pushNow(p *peer, o outgoing) {
	p.link.inflight++
	n.counters.Forwarded++
	e := n.pushes.next()
	e.Call = n.newCall(call{kind: callPush, peer: p, msg: o.m, prev: o.prev, syncOnly: o.syncOnly})
	e.Peer, e.Addr, e.Msg, e.Prev, e.SyncOnly = p.id, p.addr, o.m, o.prev, o.syncOnly
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
		l.backlog.pushFront(outgoing{m: c.msg, prev: c.prev, syncOnly: c.syncOnly})
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
	// Expired messages go too: the receiver numbers them and tells its
	// subscribers they expired, and the chain of predecessors stays whole.
	for !l.resting && l.inflight < n.cfg.PushWindow && l.backlog.len() > 0 {
		n.pushNow(p, l.backlog.popFront())
	}
}

// LinkState describes pushes to one peer, for status pages.
type LinkState struct {
	InFlight int
	Backlog  int
	Resting  bool
}
