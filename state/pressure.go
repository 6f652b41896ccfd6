package state

// PeersBackedUp reports whether a link to a live peer holds half of what it
// may before it sheds (PeerBacklogLimit messages, or PeerBacklogBytes)
// while its stream works: the peer takes messages more slowly than this
// node's publishers hand them over. A shell holds its local publishers
// back while it is true, so a slow link makes them wait instead of losing
// what the backlog would shed. A resting link (its stream broke, a retry
// is due) does not count: a peer that is gone must not stop the node's
// publishers; its backlog sheds, and the loss is reported, as before.
// It walks the peers; it changes nothing.
func (n *Node) PeersBackedUp() bool {
	backed := false
	n.peers.each(func(p *peer) {
		l := &p.link
		if backed || l.resting {
			return
		}
		backed = 2*l.waiting() >= n.cfg.PeerBacklogLimit || 2*l.bytes >= n.cfg.PeerBacklogBytes
	})
	return backed
}
