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
	backed, _ := n.PeerPressure()
	return backed
}

// PeersBusy reports whether a link to a live peer has pushes in flight or
// waiting: the node's publishes go to peers, at the pace of the links'
// push windows. A shell then gives its local publishers only their first
// credit: more in flight would only wait in the links' backlogs, gone cold
// by the time they are pushed (cross-node-packed-windowed ran 2-5% slower
// with the wider credit). A resting link does not count, as for
// PeersBackedUp. It walks the peers; it changes nothing.
func (n *Node) PeersBusy() bool {
	_, busy := n.PeerPressure()
	return busy
}

// PeerPressure is PeersBackedUp and PeersBusy in one walk of the peers,
// which a shell takes after every publish.
func (n *Node) PeerPressure() (backed, busy bool) {
	n.peers.each(func(p *peer) {
		l := &p.link
		if backed || l.resting {
			return
		}
		backed = 2*l.waiting() >= n.cfg.PeerBacklogLimit || 2*l.bytes >= n.cfg.PeerBacklogBytes
		busy = busy || l.inflight > 0 || l.waiting() > 0
	})
	return backed, busy
}
