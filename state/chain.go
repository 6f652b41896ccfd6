package state

import "time"

// Chains: what we routed to each peer, per topic: the first and the last
// source_sequence sent. Each push names the last one as its predecessor,
// so the receiver can tell a missing message from one not meant for it;
// and a receiver that has seen nothing of ours on a topic can ask for
// everything "from the first you sent me", which the chain resolves.
//
// A chain outlives its peer's death for DepartedRetention, with the
// peer's last known patterns: what we publish meanwhile that the peer
// wanted is recorded as if sent, so when the peer comes back (the same
// instance, after a partition) its first push names the last of them as
// predecessor, and the peer asks for what it missed instead of losing it
// silently.
type chain struct {
	topics   map[string]*sentRange // by topic; forgotten whole (forgetTopics), never one by one
	recent   *sentRange            // the range rangeOf found last: recentOf's
	recentOf string
	departed time.Duration   // when its peer died; 0 while it lives
	patterns []string        // its routes while departed
	missed   deque[outgoing] // what it wanted meanwhile, pushed when it returns
	bytes    int             // what missed holds (memory.go)
	mark     uint64          // per-publish dedup
	nth      uint64          // which death departed is (departure)
}

// sentRange is what we routed to a peer on one topic: the first and last
// numbers, and the highest we pushed (the rest in between were pushed
// before it, or dropped from the backlog: link.go, droppedFrom).
type sentRange struct{ first, last, pushed uint64 }

// rangeOf is the range of topic, or nil. Pushes come in runs of one
// topic, so the range found last is checked first.
func (c *chain) rangeOf(topic string) *sentRange {
	if c.recent != nil && c.recentOf == topic {
		return c.recent
	}
	r := c.topics[topic]
	if r != nil {
		c.recent, c.recentOf = r, topic
	}
	return r
}

// setRange makes topic's range r.
func (c *chain) setRange(topic string, r sentRange) {
	if p := c.rangeOf(topic); p != nil {
		*p = r
		return
	}
	c.topics[topic] = &r
}

// forgetTopics forgets every range (forgetting only makes receivers ask
// more).
func (c *chain) forgetTopics() {
	c.topics, c.recent, c.recentOf = make(map[string]*sentRange), nil, ""
}

// maxDeparted bounds the chains kept for removed peers: as many as there
// may be peers, so a node cut off from the whole mesh keeps every one.
// What they hold is bounded in bytes (PeerBacklogBytes, BudgetBytes).
const maxDeparted = maxPeers

// departure is one death in the order of departures. A peer that died,
// came back and died again has an entry per death; only the one numbered
// as its chain's last death is current.
type departure struct {
	id  string
	nth uint64 // Node.departures when it died
}

// departedChain is the chain of d's peer if d is its current death.
func (n *Node) departedChain(d departure) *chain {
	if c := n.chains[d.id]; c != nil && c.departed != 0 && c.nth == d.nth {
		return c
	}
	return nil
}

// chainFor returns the chain of a peer that (re)appears. One back from the
// dead also hands back the patterns it was last known to want: they stay
// its routes until a fetch of its state replaces them, so nothing published
// between its return and that fetch passes it by.
func (n *Node) chainFor(peerID string) (c *chain, routes []string) {
	c = n.chains[peerID]
	if c == nil {
		c = &chain{}
		n.chains[peerID] = c
	}
	if c.departed != 0 { // back from the dead
		c.departed = 0
		n.departedLive--
		routes = c.patterns
		n.dropDepartedRoutes(c)
	}
	return c, routes
}

// record notes that m goes to the chain's peer and returns the number of
// the previous message on m's topic sent there (0: none).
func (n *Node) record(c *chain, m *Message) uint64 {
	if c.topics == nil || len(c.topics) >= n.cfg.MaxStreams {
		c.forgetTopics()
	}
	r := c.rangeOf(m.Topic)
	if r == nil {
		r = &sentRange{}
		c.topics[m.Topic] = r
	}
	prev := r.last
	if r.first == 0 {
		r.first = m.SourceSeq
	}
	r.last = m.SourceSeq
	return prev
}

// departChain keeps a dead peer's chain, its routes and what was waiting
// to be pushed to it, for DepartedRetention.
func (n *Node) departChain(peerID, addr string, patterns []string, unsent []outgoing) {
	if c := n.chains[peerID]; c != nil && c.departed == 0 {
		n.departedAt[addr] = peerID
		c.departed = max(n.now.Mono, 1)
		n.departures++
		c.nth = n.departures
		n.departedLive++
		c.patterns = patterns
		for _, o := range unsent {
			n.keepMissed(c, o)
		}
		for _, pat := range patterns {
			n.departedRoutes.add(pat, c)
		}
		n.departedOrder.pushBack(departure{peerID, c.nth})
		if n.departedOrder.len() > 2*maxDeparted { // mostly returns: keep the deaths still current
			n.departedOrder.filter(func(d departure) bool { return n.departedChain(d) != nil })
		}
	}
	n.forgetDeparted()
}

// forgetDeparted drops the chains of peers dead longer than
// DepartedRetention, or beyond maxDeparted. It runs with every beacon.
func (n *Node) forgetDeparted() {
	n.forgetAwaySources()
	for n.departedOrder.len() > 0 {
		d := n.departedOrder.front()
		c := n.departedChain(d)
		switch {
		case c == nil: // came back (and maybe died again: a later entry), or already gone
		case n.departedLive > maxDeparted || n.now.Mono-c.departed >= n.cfg.DepartedRetention:
			n.dropChain(d.id)
		default:
			return
		}
		n.departedOrder.popFront()
	}
}

// dropChain forgets what we routed to a peer: it restarted, or has been
// gone too long.
func (n *Node) dropChain(peerID string) {
	if c := n.chains[peerID]; c != nil {
		if c.departed != 0 {
			n.departedLive--
		}
		n.dropDepartedRoutes(c)
		n.charge(memDeparted, -c.bytes)
		c.bytes = 0
		c.missed.clear()
		delete(n.chains, peerID)
	}
	for addr, id := range n.departedAt {
		if id == peerID {
			delete(n.departedAt, addr)
		}
	}
}

func (n *Node) dropDepartedRoutes(c *chain) {
	for _, pat := range c.patterns {
		n.departedRoutes.remove(pat, c)
	}
	c.patterns = nil
}

// routeDeparted keeps m for the dead peers that wanted it.
func (n *Node) routeDeparted(m *Message, mark uint64) {
	n.departedRoutes.match(m.Topic, func(c *chain) {
		if c.mark != mark {
			c.mark = mark
			o := outgoing{m: m}
			if m.SourceSeq > 0 && m.Source == n.cfg.NodeID {
				o.prev = n.record(c, m)
				o.chained = true
			}
			n.keepMissed(c, o)
			n.counters.RecordedForDeparted++
		}
	})
}

// keepMissed holds a push for a dead peer's return. When the list is full
// (PeerBacklogLimit, PeerBacklogBytes) the oldest goes; the predecessor
// numbers on what follows let the peer ask for it from our ring.
func (n *Node) keepMissed(c *chain, o outgoing) {
	pin(o.m) // kept for a peer's return: not counted (slab.go)
	if c.missed.len() >= n.cfg.PeerBacklogLimit {
		n.dropMissed(c)
	}
	c.missed.pushBack(o)
	c.bytes += o.m.cost()
	n.charge(memDeparted, o.m.cost())
	for c.bytes > n.cfg.PeerBacklogBytes && c.missed.len() > 1 {
		n.dropMissed(c)
	}
}

// dropMissed lets the oldest message a dead peer missed go.
func (n *Node) dropMissed(c *chain) {
	cost := c.missed.popFront().m.cost()
	c.bytes -= cost
	n.charge(memDeparted, -cost)
	n.counters.BacklogDropped++
	n.shed(memDeparted, cost)
}

// returned pushes what a peer back from the dead missed.
func (n *Node) returned(p *peer) {
	c := p.link.chain
	for c.missed.len() > 0 {
		o := c.missed.popFront()
		c.bytes -= o.m.cost()
		n.charge(memDeparted, -o.m.cost())
		n.enqueuePush(p, o)
	}
	c.missed.clear()
}
