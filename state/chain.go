package state

import "time"

// Chains: what we routed to each peer, per topic: the first and the last
// source_sequence sent. Each push names the last one as its predecessor,
// so the receiver can tell a missing message from one not meant for it;
// and a receiver that has seen nothing of ours on a topic can ask for
// everything "from the first you sent me", which the chain resolves.
//
// A chain outlives its peer's removal for DepartedRetention, so a peer
// that comes back after a long partition (same instance) learns what it
// missed instead of starting blind.
type chain struct {
	topics   map[string]sentRange
	departed time.Duration // when its peer was removed; 0 while it lives
}

type sentRange struct{ first, last uint64 }

// maxDeparted bounds the chains kept for removed peers.
const maxDeparted = 1024

func (n *Node) chainFor(peerID string) *chain {
	c := n.chains[peerID]
	if c == nil {
		c = &chain{}
		n.chains[peerID] = c
	}
	c.departed = 0
	return c
}

// record notes that m goes to the chain's peer and returns the number of
// the previous message on m's topic sent there (0: none).
func (n *Node) record(c *chain, m *Message) uint64 {
	if c.topics == nil || len(c.topics) >= n.cfg.MaxStreams {
		c.topics = make(map[string]sentRange) // forgetting only makes receivers ask more
	}
	r := c.topics[m.Topic]
	prev := r.last
	if r.first == 0 {
		r.first = m.SourceSeq
	}
	r.last = m.SourceSeq
	c.topics[m.Topic] = r
	return prev
}

// departChain keeps a removed peer's chain for DepartedRetention, and
// forgets chains of peers gone longer, or too many.
func (n *Node) departChain(peerID string) {
	if c := n.chains[peerID]; c != nil {
		c.departed = max(n.now.Mono, 1)
		n.departedOrder.pushBack(peerID)
	}
	for n.departedOrder.len() > 0 {
		id := n.departedOrder.front()
		c := n.chains[id]
		switch {
		case c == nil || c.departed == 0: // came back, or already gone
		case n.departedOrder.len() > maxDeparted || n.now.Mono-c.departed >= n.cfg.DepartedRetention:
			delete(n.chains, id)
		default:
			return
		}
		n.departedOrder.popFront()
	}
}

// forgetTopic makes the next push on topic to every peer claim no
// predecessor: our numbering of it restarts.
func (n *Node) forgetTopic(topic string) {
	for _, c := range n.chains {
		delete(c.topics, topic)
	}
}
