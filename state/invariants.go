package state

import (
	"errors"
	"fmt"
	"slices"
)

// CheckInvariants verifies, from scratch, what the node's running figures
// claim and what its caps promise: byte accounting equal to the sum of what
// each store holds, every cap respected, credits and windows never negative
// and consistent with what is in flight, rings numbered in order, holds
// sorted and beyond their stream's last number, every stream's numbers
// accounted for, membership and gossip counts consistent. It returns every
// violation found, joined; nil when all hold.
//
// It walks the whole node, so it costs time in proportion to what the node
// holds. The simulator, the scenario tests and the state tests run it after
// every step; the daemon does not (BENCHMARKS.md measures what it costs).
// It changes nothing.
func (n *Node) CheckInvariants() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	n.checkBounds(bad)
	n.checkMemory(bad)
	n.checkRings(bad)
	n.checkSubscriptions(bad)
	n.checkLinks(bad)
	n.checkStreams(bad)
	n.checkMembership(bad)
	n.checkGroups(bad)
	n.checkSlabs(bad)
	return errors.Join(errs...)
}

// checkSlabs: a slab to be used again counts at least the holds on its
// messages that the rings, the subscriptions and their streams have, so it
// is never free while one of them holds a message of it (slab.go). It may
// count more: what a detached subscription held is never released. The
// links to peers count too; what holds messages without counting them
// (repair, retained values, pushes that failed, what departed peers
// missed) has pinned their slabs.
func (n *Node) checkSlabs(bad badFunc) {
	refs := map[*msgSlab]int32{}
	note := func(m *Message) {
		if m != nil && m.slab != nil {
			refs[m.slab]++
		}
	}
	// What keeps a message without counting it must have pinned its slab.
	pinned := func(what string, m *Message) {
		if m != nil && m.slab != nil && !m.slab.pinned {
			bad("slab: a message %s, not counted, has not pinned it", what)
		}
	}
	for _, t := range n.topics.m {
		for i := 0; i < t.ring.len(); i++ {
			note(t.ring.at(i))
		}
	}
	for _, s := range n.subs {
		for i := 0; i < s.queue.len(); i++ {
			note(s.queue.at(i))
		}
		for i := 0; i < s.blocked.len(); i++ {
			note(s.blocked.at(i).m)
		}
		for i := 0; i < s.pending.len(); i++ {
			note(s.pending.at(i).Msg)
		}
		handedMsgs := 0
		for i := 0; i < s.handed.len(); i++ {
			if h := s.handed.at(i); h.slab != nil {
				refs[h.slab] += int32(h.n)
				handedMsgs += h.n
			}
		}
		if handedMsgs != s.handedMsgs {
			bad("subscription: %d counted messages handed out, %d noted", handedMsgs, s.handedMsgs)
		}
	}
	n.peers.each(func(p *peer) {
		l := &p.link
		for i := 0; i < l.sent.len(); i++ {
			if r := l.sent.at(i); !r.done {
				note(r.o.m)
			}
		}
		for i := 0; i < l.retry.len(); i++ {
			note(l.retry.at(i).o.m)
			pinned("failed and to push again", l.retry.at(i).o.m)
		}
		for i := 0; i < l.backlog.len(); i++ {
			note(l.backlog.at(i).m)
		}
	})
	for _, s := range n.inStreams.m {
		for _, m := range s.held {
			pinned("held behind a hole", m)
		}
		for _, m := range s.waiting {
			pinned("waiting for its source to vouch", m)
		}
	}
	for _, m := range n.stampWait {
		pinned("waiting for its stamp to be vouched for", m)
	}
	for _, m := range n.retained.byTopic {
		pinned("retained", m)
	}
	for _, c := range n.chains {
		for i := 0; i < c.missed.len(); i++ {
			pinned("kept for a departed peer", c.missed.at(i).m)
		}
	}
	views := map[*frameView]int32{}
	for s, r := range refs {
		if !s.pinned && s.holds < r {
			bad("slab: %d holds counted, %d held", s.holds, r)
		}
		if v := s.frame; v != nil {
			views[v]++
			if v.ref == nil {
				bad("slab: %d held messages view a frame given back", r)
			}
		}
	}
	for v, k := range views {
		if v.slabs < k {
			bad("frame: %d slabs view it, %d counted", k, v.slabs)
		}
	}
	for s := n.slabs.free; s != nil; s = s.next {
		if refs[s] > 0 {
			bad("slab: free with %d of its messages held", refs[s])
		}
		if s.frame != nil {
			bad("slab: free and still viewing a frame")
		}
	}
}

type badFunc func(format string, args ...any)

// CheckBounds is the part of CheckInvariants that takes constant time: the
// byte accounting adds up, no running total is negative, and the caps of
// the node as a whole hold. Cheap enough for a simulator to run after each
// of millions of steps, with the full check less often.
func (n *Node) CheckBounds() error {
	var errs []error
	n.checkBounds(func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) })
	return errors.Join(errs...)
}

func (n *Node) checkBounds(bad badFunc) {
	if n.viewedBytes < 0 || n.viewedBytes > n.cfg.BudgetBytes/maxViewedShare {
		bad("frames: %d bytes viewed, at most %d", n.viewedBytes, n.cfg.BudgetBytes/maxViewedShare)
	}
	sum := 0
	for c := range memClasses {
		sum += n.mem.class[c]
		if n.mem.class[c] < 0 {
			bad("memory: %s holds %d bytes", memNames[c], n.mem.class[c])
		}
	}
	switch {
	case sum != n.mem.total:
		bad("memory: total %d bytes, the stores' totals add up to %d", n.mem.total, sum)
	case n.mem.class[memRing] != n.buffer.bytes || n.buffer.bytes > n.cfg.RingBytes:
		bad("rings: %d bytes charged, %d counted, cap %d", n.mem.class[memRing], n.buffer.bytes, n.cfg.RingBytes)
	case n.mem.class[memRetained] != n.retained.bytes || n.retained.bytes > n.cfg.MaxRetainedBytes:
		bad("retained: %d bytes charged, %d counted, cap %d", n.mem.class[memRetained], n.retained.bytes, n.cfg.MaxRetainedBytes)
	case n.mem.class[memHeld] > n.cfg.HeldBytes:
		bad("held: %d bytes, cap %d", n.mem.class[memHeld], n.cfg.HeldBytes)
	case n.fetchesInFlight < 0 || n.fetchesInFlight > n.cfg.MaxFetchesInFlight:
		bad("fetches: %d in flight, cap %d", n.fetchesInFlight, n.cfg.MaxFetchesInFlight)
	case n.peers.len() > maxPeers || len(n.subs) > n.cfg.MaxSubscriptions || len(n.patternRefs) > n.cfg.MaxPatterns:
		bad("%d peers, %d subscriptions, %d patterns: over their caps", n.peers.len(), len(n.subs), len(n.patternRefs))
	case len(n.topics.m) > n.cfg.MaxTopics || len(n.inStreams.m) > n.cfg.MaxStreams:
		bad("%d topics, %d streams: over their caps", len(n.topics.m), len(n.inStreams.m))
	}
}

func (n *Node) checkMemory(bad badFunc) {
	var want [memClasses]int
	want[memRing] = n.buffer.bytes
	for _, s := range n.subs {
		want[memQueues] += s.bytes
	}
	n.peers.each(func(p *peer) { want[memLinks] += p.link.bytes })
	for _, c := range n.chains {
		want[memDeparted] += c.bytes
	}
	for _, s := range n.inStreams.m {
		for _, m := range s.held {
			want[memHeld] += m.cost()
		}
		for _, m := range s.waiting {
			want[memHeld] += m.cost()
		}
	}
	for _, m := range n.stampWait {
		want[memHeld] += m.cost()
	}
	stamps := 0
	for _, c := range n.calls {
		if c.stamp != "" {
			stamps++
		}
	}
	if len(n.stampWait) > maxStampsToVouch || stamps < len(n.stampWait) {
		bad("stamps: %d retained values wait to be vouched for, %d asked", len(n.stampWait), stamps)
	}
	want[memRetained] = n.retained.bytes
	want[memDedup] = n.cfg.DedupWindow * dedupEntryBytes
	total := 0
	for c := range memClasses {
		total += want[c]
		if n.mem.class[c] != want[c] {
			bad("memory: %s charged %d bytes, holds %d", memNames[c], n.mem.class[c], want[c])
		}
	}
	if n.mem.total != total {
		bad("memory: total %d bytes, the stores hold %d", n.mem.total, total)
	}
	retained := 0
	for _, m := range n.retained.byTopic {
		retained += m.cost()
	}
	if retained != n.retained.bytes {
		bad("retained: %d bytes counted, %d held", n.retained.bytes, retained)
	}
	if n.retained.bytes > n.cfg.MaxRetainedBytes || len(n.retained.byTopic) > n.cfg.MaxRetained {
		bad("retained: %d values, %d bytes, over its caps", len(n.retained.byTopic), n.retained.bytes)
	}
	if n.mem.class[memHeld] > n.cfg.HeldBytes {
		bad("held: %d bytes, cap %d", n.mem.class[memHeld], n.cfg.HeldBytes)
	}
}

func (n *Node) checkRings(bad badFunc) {
	count, bytes := 0, 0
	for name, t := range n.topics.m {
		if t.ring.len() > n.cfg.MessageBufferSize {
			bad("ring %s: %d messages, cap %d", name, t.ring.len(), n.cfg.MessageBufferSize)
		}
		for i := 0; i < t.ring.len(); i++ {
			m := t.ring.at(i)
			count++
			bytes += m.cost()
			switch {
			case !n.buffer.holds(m) || m.topic != t:
				bad("ring %s: #%d is not linked to its topic and the buffer", name, m.Seq)
			case i > 0 && m.Seq <= t.ring.at(i-1).Seq:
				bad("ring %s: #%d after #%d", name, m.Seq, t.ring.at(i-1).Seq)
			case m.Seq > t.head:
				bad("ring %s: #%d beyond the topic's last number %d", name, m.Seq, t.head)
			}
		}
	}
	if count != n.buffer.count || bytes != n.buffer.bytes {
		bad("rings: %d messages, %d bytes; the buffer counts %d, %d", count, bytes, n.buffer.count, n.buffer.bytes)
	}
	if n.buffer.bytes > n.cfg.RingBytes {
		bad("rings: %d bytes, cap %d", n.buffer.bytes, n.cfg.RingBytes)
	}
	if len(n.topics.m) > n.cfg.MaxTopics {
		bad("topics: %d, cap %d", len(n.topics.m), n.cfg.MaxTopics)
	}
}

func (n *Node) checkSubscriptions(bad badFunc) {
	refs := map[string]int{}
	for id, s := range n.subs {
		for _, p := range s.patterns {
			if s.group == "" { // a queue group member's are its group's (checkGroups)
				refs[p]++
			}
		}
		bytes := 0
		for i := 0; i < s.queue.len(); i++ {
			bytes += s.queue.at(i).cost()
		}
		for i := 0; i < s.blocked.len(); i++ {
			bytes += s.blocked.at(i).m.cost()
		}
		for i := 0; i < s.pending.len(); i++ {
			if m := s.pending.at(i).Msg; m != nil {
				bytes += m.cost()
			}
		}
		switch {
		case bytes != s.bytes:
			bad("subscription %s: charged %d bytes, holds %d", short(id), s.bytes, bytes)
		case s.credit < 0:
			bad("subscription %s: credit %d", short(id), s.credit)
		case s.byteCredit && s.creditBytes < -n.cfg.MaxPayloadBytes-n.cfg.MaxTopicBytes:
			bad("subscription %s: byte credit %d", short(id), s.creditBytes)
		case s.queue.len() > s.limit || s.blocked.len() > n.cfg.BlockedLimit:
			bad("subscription %s: %d queued (limit %d), %d blocked (limit %d)", short(id), s.queue.len(), s.limit, s.blocked.len(), n.cfg.BlockedLimit)
		case s.queue.len()+s.blocked.len() > 1 && s.bytes-n.pendingBytes(s) > n.cfg.QueueBytes:
			bad("subscription %s: %d bytes queued, cap %d", short(id), s.bytes-n.pendingBytes(s), n.cfg.QueueBytes)
		case s.paused != (s.stream == 0):
			bad("subscription %s: paused %v with stream %d", short(id), s.paused, s.stream)
		case s.stream != 0 && n.streams[s.stream] != s:
			bad("subscription %s: stream %d is not its own", short(id), s.stream)
		case s.paused && (s.queue.len() > 0 || s.blocked.len() > 0 || s.pending.len() > 0):
			bad("subscription %s: paused with events waiting", short(id))
		}
	}
	for p, c := range n.patternRefs {
		if refs[p] != c {
			bad("pattern %s: %d references counted, %d held", p, c, refs[p])
		}
	}
	if len(refs) != len(n.patternRefs) || len(n.subs) > n.cfg.MaxSubscriptions || len(n.patternRefs) > n.cfg.MaxPatterns {
		bad("patterns: %d held, %d counted, %d subscriptions", len(refs), len(n.patternRefs), len(n.subs))
	}
	for h, s := range n.streams {
		if s.stream != h || s.removed {
			bad("stream %d: its subscription is elsewhere or gone", h)
		}
	}
}

// pendingBytes is what a subscription's pending replay and retained events
// hold (bounded when planned, not by the queue's cap).
func (n *Node) pendingBytes(s *subscription) int {
	b := 0
	for i := 0; i < s.pending.len(); i++ {
		if m := s.pending.at(i).Msg; m != nil {
			b += m.cost()
		}
	}
	return b
}

func (n *Node) checkLinks(bad badFunc) {
	n.peers.each(func(p *peer) {
		l := &p.link
		inflight, bytes := 0, 0
		for i := 0; i < l.sent.len(); i++ {
			if r := l.sent.at(i); !r.done {
				inflight++
				bytes += r.o.m.cost()
			}
		}
		if bytes != l.sentBytes {
			bad("link to %s: %d bytes in flight counted, %d outstanding", short(p.id), l.sentBytes, bytes)
		}
		for i := 0; i < l.retry.len(); i++ {
			bytes += l.retry.at(i).o.m.cost()
			if i > 0 && !seqAfter(l.retry.at(i).seq, l.retry.at(i-1).seq) {
				bad("link to %s: retries out of order", short(p.id))
			}
		}
		for i := 0; i < l.backlog.len(); i++ {
			bytes += l.backlog.at(i).m.cost()
		}
		switch {
		case inflight != l.inflight:
			bad("link to %s: %d in flight counted, %d pushes outstanding", short(p.id), l.inflight, inflight)
		case l.inflight < 0 || l.inflight > n.cfg.PushWindow:
			bad("link to %s: %d in flight, window %d", short(p.id), l.inflight, n.cfg.PushWindow)
		case bytes != l.bytes:
			bad("link to %s: charged %d bytes, holds %d", short(p.id), l.bytes, bytes)
		case l.waiting() > n.cfg.PeerBacklogLimit:
			bad("link to %s: %d waiting, cap %d", short(p.id), l.waiting(), n.cfg.PeerBacklogLimit)
		}
	})
	live := 0
	for _, c := range n.chains {
		if c.departed != 0 {
			live++
		}
	}
	switch {
	case live != n.departedLive:
		bad("chains: %d of dead peers, counted %d", live, n.departedLive)
	case live > maxDeparted || len(n.awaySources) > maxDeparted:
		bad("departed: %d chains and %d sources away, cap %d", live, len(n.awaySources), maxDeparted)
	case n.departedOrder.len() > 2*maxDeparted || n.awayOrder.len() > 2*maxDeparted:
		bad("departed: %d deaths and %d absences queued, cap %d", n.departedOrder.len(), n.awayOrder.len(), 2*maxDeparted)
	}
	for id, c := range n.chains {
		bytes := 0
		for i := 0; i < c.missed.len(); i++ {
			bytes += c.missed.at(i).m.cost()
		}
		switch {
		case bytes != c.bytes:
			bad("chain of %s: charged %d bytes, holds %d", short(id), c.bytes, bytes)
		case c.missed.len() > n.cfg.PeerBacklogLimit:
			bad("chain of %s: %d missed, cap %d", short(id), c.missed.len(), n.cfg.PeerBacklogLimit)
		case c.departed == 0 && c.missed.len() > 0:
			bad("chain of %s: a live peer's chain keeps %d missed", short(id), c.missed.len())
		}
	}
}

func (n *Node) checkStreams(bad badFunc) {
	if len(n.inStreams.m) > n.cfg.MaxStreams {
		bad("streams: %d tracked, cap %d", len(n.inStreams.m), n.cfg.MaxStreams)
	}
	for k, s := range n.inStreams.m {
		name := k.topic + " from " + short(k.source)
		switch {
		case s.removed || s.key != k:
			bad("stream %s: removed or misfiled", name)
		case s.delivered+s.lost+s.skipped != s.last-s.base:
			bad("stream %s: passed %d numbers, delivered %d, lost %d, skipped %d", name, s.last-s.base, s.delivered, s.lost, s.skipped)
		case len(s.held) > n.cfg.RepairHoldLimit || len(s.waiting) > n.cfg.RepairHoldLimit:
			bad("stream %s: %d held, %d waiting, cap %d", name, len(s.held), len(s.waiting), n.cfg.RepairHoldLimit)
		case (s.verifying == 0) != (len(s.waiting) == 0):
			bad("stream %s: vouching for #%d with %d waiting", name, s.verifying, len(s.waiting))
		case s.unanchored && s.verifying == 0:
			bad("stream %s: unanchored with nothing vouched for", name)
		case !slices.IsSortedFunc(s.held, func(a, b *Message) int { return cmpU64(a.SourceSeq, b.SourceSeq) }):
			bad("stream %s: held messages out of order", name)
		case len(s.held) > 0 && s.held[0].SourceSeq <= s.last:
			bad("stream %s: holds #%d, at or below its last number %d", name, s.held[0].SourceSeq, s.last)
		}
		for i := 1; i < len(s.held); i++ {
			if s.held[i].SourceSeq == s.held[i-1].SourceSeq {
				bad("stream %s: holds #%d twice", name, s.held[i].SourceSeq)
			}
		}
	}
}

func (n *Node) checkMembership(bad badFunc) {
	fetching := 0
	for _, c := range n.calls {
		if c.kind == callFetch {
			fetching++
		}
	}
	n.peers.each(func(p *peer) {
		if c, ok := n.calls[p.fetchCall]; p.fetchCall != 0 && (!ok || c.kind != callFetch || c.peer != p) {
			bad("peer %s: fetch %d is not an outstanding call of its own", short(p.id), p.fetchCall)
		}
		if n.byAddr[p.addr] != p {
			bad("peer %s: not found at its address %s", short(p.id), p.addr)
		}
		if p.removed || n.slots.peer[p.slot] != p {
			bad("peer %s: removed, or not in its slot", short(p.id))
		}
	})
	if fetching != n.fetchesInFlight || n.fetchesInFlight > n.cfg.MaxFetchesInFlight {
		bad("fetches: %d counted in flight, %d outstanding, cap %d", n.fetchesInFlight, fetching, n.cfg.MaxFetchesInFlight)
	}
	if n.peers.len() > maxPeers || len(n.byAddr) != n.peers.len() {
		bad("peers: %d known, %d addresses", n.peers.len(), len(n.byAddr))
	}
}
