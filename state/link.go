package state

import "slices"

// link carries our messages to one peer: pushes in flight up to PushWindow,
// then a backlog. A failed push (its stream broke, or the peer asked for it
// again later) goes to the retry list, kept in the order the pushes were
// first issued whatever order their failures arrive in, and the link rests
// for a backoff (PushRetryDelay, doubling to PushRetryMaxDelay) before
// pushing again, retries first, for as long as the peer lives. Retries
// can duplicate; the receiver's dedup puts that right. The backlog is
// capped; what it sheds, the receiver sees as a hole (each push names the
// previous number sent on its topic) and repairs from our ring.
type link struct {
	inflight   int               // pushes awaiting completion
	sent       deque[pushRecord] // those pushes, in the order issued
	seq        uint32            // number of the next push on this link
	retry      deque[pushRecord] // failed pushes, by seq: pushed again first
	backlog    deque[outgoing]   // never pushed yet
	bytes      int               // what its pushes not done hold (memory.go)
	sentBytes  int               // of which in flight
	resting    bool
	failures   int    // consecutive
	chain      *chain // chain.go: what we routed to this peer
	retryAlarm alarm
}

type outgoing struct {
	m        *Message
	prev     uint64
	chained  bool     // one of the numbers recorded in the peer's chain (send)
	syncOnly bool     // a retained value the peer lacks, not a message for it
	cost     int32    // m.cost(), taken when queued: m is cold by completion
	groups   []string // the queue groups the peer was chosen for (groups.go)
}

// copyTo sets dst to o field by field. Copied whole, a struct moves
// sixteen bytes at a time; when it was just written in narrower pieces
// (built in a local, or an argument spilled to the stack), the CPU cannot
// forward those pending stores to the wider loads and waits for them to
// land, which is what a composite literal built aside and then copied
// into a queue costs. The two flags are copied apart: one after the
// other, the compiler reads them as one two-byte word over two stores.
// Filled in place, the push path's records cost about 5% less
// (BenchmarkPublishRun with a peer: 111.5 to 106.3 µs for 1024).
func (o *outgoing) copyTo(dst *outgoing) {
	dst.m, dst.prev = o.m, o.prev
	dst.chained = o.chained
	dst.cost = o.cost
	dst.syncOnly = o.syncOnly
	dst.groups = o.groups
}

type pushRecord struct {
	seq  uint32
	o    outgoing
	done bool
}

func (l *link) init() { l.retryAlarm = newAlarm() }

// waiting is how many pushes wait for the link: retries and backlog.
func (l *link) waiting() int { return l.retry.len() + l.backlog.len() }

// requeue files a failed push among the retries by its seq.
func (l *link) requeue(r pushRecord) {
	i := l.retry.len()
	for i > 0 && seqAfter(l.retry.at(i-1).seq, r.seq) {
		i--
	}
	switch i {
	case 0:
		l.retry.pushFront(r)
	case l.retry.len():
		l.retry.pushBack(r)
	default:
		l.retry.pushBack(r)
		for j := l.retry.len() - 1; j > i; j-- {
			*l.retry.atPtr(j) = l.retry.at(j - 1)
		}
		*l.retry.atPtr(i) = r
	}
}

// seqAfter reports whether push number a was issued after b; numbers wrap.
func seqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// unsent takes every push the link still owes its peer, in order: those
// in flight or failed (by the order first issued), then the backlog.
func (n *Node) unsent(l *link) []outgoing {
	owed := make([]pushRecord, 0, l.sent.len()+l.retry.len())
	for l.sent.len() > 0 {
		if r := l.sent.popFront(); !r.done {
			pin(r.o.m) // the shell may still be sending it
			owed = append(owed, r)
		}
	}
	for l.retry.len() > 0 {
		owed = append(owed, l.retry.popFront())
	}
	slices.SortStableFunc(owed, func(a, b pushRecord) int {
		if seqAfter(a.seq, b.seq) {
			return 1
		}
		if seqAfter(b.seq, a.seq) {
			return -1
		}
		return 0
	})
	out := make([]outgoing, 0, len(owed)+l.backlog.len())
	for _, r := range owed {
		out = append(out, r.o)
	}
	for l.backlog.len() > 0 {
		out = append(out, l.backlog.popFront())
	}
	l.inflight, l.sentBytes = 0, 0
	n.charge(memLinks, -l.bytes)
	l.bytes = 0
	return out
}

// Push call ids say which link and which push they are, so a completion
// finds its push without a lookup table: a bit marking a push, the peer's
// slot and the slot's generation (a slot reused by a later peer cannot
// take an old completion), and the link's own push number.
const (
	pushCallBit = uint64(1) << 63
	slotBits    = 15 // maxPeers fits
)

func pushCall(slot uint32, gen uint16, seq uint32) uint64 {
	return pushCallBit | uint64(gen)<<(32+slotBits) | uint64(slot)<<32 | uint64(seq)
}

func splitPushCall(call uint64) (slot uint32, gen uint16, seq uint32) {
	return uint32(call>>32) & (1<<slotBits - 1), uint16(call >> (32 + slotBits)), uint32(call)
}

// send routes m to p: it is pushed now if the link allows, or queued.
func (n *Node) send(p *peer, m *Message) {
	o := outgoing{m: m}
	if m.picks != nil {
		o.groups = m.groupsFor(p.id)
	}
	if m.SourceSeq > 0 && m.Source == n.cfg.NodeID {
		o.prev = n.record(p.link.chain, m)
		o.chained = true
	}
	n.enqueuePush(p, o)
}

// replicate pushes a retained publish to a peer that does not want its
// topic (as far as we know), so every node holds the same value; one that
// has come to want the topic before we heard delivers it. It is chained
// like any push (§5.2): the peer numbers it, or passes its number over
// unwanted, and what we route it next names it as its predecessor. Left
// out of the chain, it moved the peer's stream by a number we then did
// not name, and our next push there, naming an older predecessor or none,
// looked like a source that forgot what it sent: the peer asked for the
// numbers between, never meant for it, and told its subscribers they were
// lost.
func (n *Node) replicate(p *peer, m *Message) { n.send(p, m) }

func (n *Node) enqueuePush(p *peer, o outgoing) { n.enqueuePushIn(p, o, nil) }

// enqueuePushIn is enqueuePush with the chain's range on o's topic already
// in hand (run.go), or nil to look it up.
func (n *Node) enqueuePushIn(p *peer, o outgoing, r *sentRange) {
	l := &p.link
	hold(o.m) // until the peer has it, or the link lets it go (slab.go)
	cost := o.m.cost()
	o.cost = int32(cost)
	l.bytes += cost
	n.charge(memLinks, cost)
	if l.resting || !n.windowOpen(l, cost) || l.waiting() > 0 {
		if l.waiting() >= n.cfg.PeerBacklogLimit {
			n.shedBacklog(l, memLinks)
		}
		o.copyTo(l.backlog.pushBackSlot())
		for l.bytes > n.cfg.PeerBacklogBytes && l.waiting() > 1 {
			n.shedBacklog(l, memLinks)
		}
		return
	}
	n.pushNowIn(p, o, r)
}

// shedBacklog drops the oldest push waiting for the link to make room
// (counted against store c): the receiver sees the hole by the numbers that
// follow and repairs it from our ring while the ring holds it.
func (n *Node) shedBacklog(l *link, c memClass) {
	var o outgoing
	if l.retry.len() > 0 {
		o = l.retry.popFront().o
	} else {
		o = l.backlog.popFront()
	}
	cost := int(o.cost)
	l.bytes -= cost
	n.charge(memLinks, -cost)
	n.counters.BacklogDropped++
	n.shed(c, cost)
	n.release(o.m)
}

// windowOpen reports whether the link may have one more push of cost in
// flight: fewer than PushWindow, and half of PeerBacklogBytes at most (but
// always one).
func (n *Node) windowOpen(l *link, cost int) bool {
	return l.inflight == 0 || (l.inflight < n.cfg.PushWindow && l.sentBytes+cost <= n.cfg.PeerBacklogBytes/2)
}

func (n *Node) pushNow(p *peer, o outgoing) { n.pushNowIn(p, o, nil) }

func (n *Node) pushNowIn(p *peer, o outgoing, r *sentRange) {
	l := &p.link
	l.inflight++
	l.sentBytes += int(o.cost)
	n.counters.Forwarded++
	e := n.pushes.next()
	e.Call = pushCall(p.slot, n.slots.gen[p.slot], l.seq)
	rec := l.sent.pushBackSlot()
	rec.seq = l.seq
	o.copyTo(&rec.o)
	l.seq++
	e.Peer, e.Addr, e.Msg, e.Prev, e.SyncOnly = p.id, p.addr, o.m, o.prev, o.syncOnly // not named: Push.Msg
	e.Groups = o.groups
	if r != nil {
		e.DroppedFrom = n.droppedBelow(r, o)
	} else {
		e.DroppedFrom = n.droppedFrom(l.chain, o)
	}
	n.emit(e)
}

// droppedFrom is the first of the numbers before o's predecessor that we
// routed to the link's peer and dropped from its backlog unsent, when we
// hold none of them any more: the peer may count them lost at once
// instead of holding what follows while it asks us. 0: none, or some may
// still be held (the peer asks, and we answer from the ring).
//
// The link pushes in the order it routed, so a number routed before o and
// above the highest pushed on o's topic was dropped (a push failed or
// refused for now goes again before anything routed after it, and was
// pushed already: it is not above the highest).
func (n *Node) droppedFrom(c *chain, o outgoing) uint64 {
	if c == nil || c.topics == nil {
		return 0
	}
	r := c.rangeOf(o.m.Topic)
	if r == nil {
		return 0
	}
	return n.droppedBelow(r, o)
}

// droppedBelow is droppedFrom on r, the chain's range on o's topic. It
// notes o as pushed when o is chained and not sync-only, the first on
// its topic (prev 0) included: a push after it must not claim it dropped.
func (n *Node) droppedBelow(r *sentRange, o outgoing) uint64 {
	if o.syncOnly {
		return 0
	}
	from := max(r.pushed+1, r.first) // a chain forgotten and begun again knows nothing below first
	if o.chained {
		r.pushed = max(r.pushed, o.m.SourceSeq)
	}
	if o.prev == 0 || from > o.prev || n.holdsOwn(o.m.Topic, from, o.prev) {
		return 0
	}
	return from
}

// holdsOwnScan bounds how far holdsOwn looks into a ring for our oldest
// message; beyond, it answers "maybe", which only costs the peer a resend.
const holdsOwnScan = 64

// holdsOwn reports whether we may still hold one of our messages on topic
// numbered from..to: in its ring, or as its retained value.
func (n *Node) holdsOwn(topic string, from, to uint64) bool {
	if m := n.retained.byTopic[topic]; m != nil && m.Source == n.cfg.NodeID && m.SourceSeq >= from && m.SourceSeq <= to {
		return true
	}
	t := n.topics.get(topic)
	if t == nil {
		return false
	}
	// Our own numbers go up in ring order: the first of ours decides.
	for i := 0; i < t.ring.len() && i < holdsOwnScan; i++ {
		if m := t.ring.at(i); m.Source == n.cfg.NodeID && m.SourceSeq > 0 {
			return m.SourceSeq <= to
		}
	}
	return t.ring.len() > holdsOwnScan
}

// sentPush finds the push a completion answers, in flight: usually the
// first one waiting, as pushes usually complete in order. nil when its
// peer was removed meanwhile, or when no push in flight has that call.
func (n *Node) sentPush(id uint64) (*peer, *pushRecord) {
	slot, gen, seq := splitPushCall(id)
	if int(slot) >= len(n.slots.peer) || n.slots.gen[slot] != gen || n.slots.peer[slot] == nil {
		return nil, nil // its peer was removed meanwhile
	}
	p := n.slots.peer[slot]
	l := &p.link
	for i := 0; i < l.sent.len(); i++ {
		if r := l.sent.atPtr(i); r.seq == seq && !r.done {
			return p, r
		}
	}
	n.reject(reasonUnknownCall)
	return nil, nil
}

// retire takes r, one of p's pushes in flight, out of flight.
func (n *Node) retire(p *peer, r *pushRecord) {
	l := &p.link
	l.inflight--
	l.sentBytes -= int(r.o.cost)
	r.done = true
	r.o = outgoing{}
	for l.sent.len() > 0 && l.sent.atPtr(0).done { // not front(): a copy of what was just written
		l.sent.popFront()
	}
}

// pushSucceeded retires the push call completed without error. It returns
// the push's peer when its link is to be drained: nil for an unknown call
// or a resting link.
func (n *Node) pushSucceeded(call uint64) *peer {
	if call&pushCallBit == 0 {
		n.reject(reasonUnknownCall)
		return nil
	}
	p, r := n.sentPush(call)
	if r == nil {
		return nil
	}
	cost := int(r.o.cost)
	n.release(r.o.m) // the peer has it: the shell is done with it
	n.retire(p, r)
	l := &p.link
	l.bytes -= cost
	n.charge(memLinks, -cost)
	if l.resting {
		return nil
	}
	l.failures = 0
	return p
}

// onPushCompleted retires a push; one that failed waits to go again,
// first among what waits, after the link rests.
func (n *Node) onPushCompleted(e *PushCompleted) {
	if e.Err == nil {
		if p := n.pushSucceeded(e.Call); p != nil {
			n.drainLink(p)
		}
		return
	}
	if e.Call&pushCallBit == 0 {
		n.reject(reasonUnknownCall)
		return
	}
	p, rp := n.sentPush(e.Call)
	if rp == nil {
		return
	}
	r := *rp   // not done: what goes again
	pin(r.o.m) // a failed push may still be read where it failed (slab.go)
	n.retire(p, rp)
	l := &p.link
	n.counters.PushFailures++
	l.requeue(r)
	if l.waiting() > n.cfg.PeerBacklogLimit {
		n.shedBacklog(l, memLinks)
	}
	if !l.resting {
		l.resting = true
		l.failures++
		wait := min(n.cfg.PushRetryDelay<<min(l.failures-1, 16), n.cfg.PushRetryMaxDelay)
		n.arm(&l.retryAlarm, n.now.Mono+wait, timer{kind: tPushRetry, peer: p})
	}
}

// onPushesCompleted is onPushCompleted for each call, without error, but
// drains a link once its calls in a row end, not after each: a drain
// pushes the longest run of what waits that the window lets through, and
// the window only widens as pushes complete, so one drain after several
// completions pushes what one after each would have, in the same order.
func (n *Node) onPushesCompleted(e *PushesCompleted) {
	var owed *peer // whose link to drain when its calls in a row end
	for _, call := range e.Calls {
		p := n.pushSucceeded(call)
		if p == nil || p == owed {
			continue
		}
		if owed != nil {
			n.drainLink(owed)
		}
		owed = p
	}
	if owed != nil {
		n.drainLink(owed)
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
	for !l.resting && l.waiting() > 0 {
		var o outgoing
		if l.retry.len() > 0 {
			o = l.retry.front().o
		} else {
			o = l.backlog.front()
		}
		if !n.windowOpen(l, int(o.cost)) {
			return
		}
		if l.retry.len() > 0 {
			l.retry.popFront()
		} else {
			l.backlog.popFront()
		}
		n.pushNow(p, o)
	}
}

// LinkState describes pushes to one peer, for status pages.
type LinkState struct {
	InFlight int
	Backlog  int
	Resting  bool
}
