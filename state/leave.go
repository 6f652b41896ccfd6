package state

// Graceful leave: a daemon that stops says so, and its peers drop it at
// once rather than suspecting it for SuspectAfter and removing it after
// PeerTimeout.
//
//   - The shell steps Leaving when it begins to stop. The node emits its
//     last beacon, with Leaving set, and beacons no more.
//   - A leave beacon passes the checks of any beacon first: our cluster,
//     well formed, and among members proved by the key and fresh by its
//     (epoch, counter) pair (admit.go). A replayed leave is refused there.
//   - It removes only the instance that sent it, at the address we know it
//     at: it never admits, replaces or moves a peer. Instance ids are new
//     on every start, so a leave from an old run names no live peer.
//   - The peer goes as a dead one goes (removePeer with mayReturn): what
//     was routed to it and not sent is kept in its departed chain, and its
//     last pair is remembered, so beacons it sent before the leave, played
//     again, are refused as replays.

// leave announces that this node is stopping.
func (n *Node) leave() {
	if n.left {
		return
	}
	n.emit(&SendBeacon{Hash: n.hash, Leaving: true})
	n.counters.BeaconsSent++
	n.left = true // sendBeacon does nothing from now on
}

// onLeave handles a leave beacon b that passed admission's checks from
// instance p (nil: not a peer).
func (n *Node) onLeave(p *peer, b *Beacon) {
	if p == nil || p.addr != b.Addr {
		n.counters.LeavesIgnored++
		return
	}
	n.counters.BeaconsReceived++
	n.counters.PeersLeft++
	n.removePeer(p, true)
}
