package state

import (
	"strings"
	"time"
)

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
//   - An instance removed by its leave is held out for PeerTimeout: its
//     beacons are refused (beacon_after_leave), even a member's fresh one.
//     A beacon sent just before the leave can land after it (the notice
//     below, over the mesh, outruns a datagram), and it must not bring back
//     a peer that has stopped. PeerTimeout is long past any beacon in
//     flight, and a leave that was not the peer's own (without a key anyone
//     on the LAN can send one) costs it no more than silence would.
//   - Beside the beacon, the stopping daemon calls Leave on the mesh of every
//     peer it has a connection to (LeaveNoticed), so a lost beacon does not
//     leave its peers waiting. The notice carries no (epoch, counter) pair:
//     it comes over the mesh, where with a key mutual TLS has already proved
//     the caller a member. It removes the instance it names only if that
//     instance is a peer and the call came from the host we know it at,
//     exactly as its leave beacon would; anything else changes nothing and
//     is counted in LeavesIgnored.

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
	n.holdOut(p.id)
}

// onLeaveNotice handles a peer's mesh notice that it is stopping.
func (n *Node) onLeaveNotice(e *LeaveNoticed) {
	p := n.peers.get(e.Instance)
	if p == nil || e.From == "" || hostOf(p.addr) != hostOf(e.From) {
		n.counters.LeavesIgnored++
		return
	}
	n.counters.PeersLeft++
	n.removePeer(p, true)
	n.holdOut(p.id)
}

// leftInstance is an instance removed by its leave, and when.
type leftInstance struct {
	id string
	at time.Duration
}

// holdOut keeps instance id, just removed by its leave, from coming back
// for PeerTimeout. At most maxPeers instances are held, the oldest let go
// first.
func (n *Node) holdOut(id string) {
	for n.leftOrder.len() > 0 {
		l := n.leftOrder.front()
		if n.now.Mono-l.at < n.cfg.PeerTimeout && n.leftOrder.len() < maxPeers {
			break
		}
		n.leftOrder.popFront()
		if n.leftAt[l.id] == l.at {
			delete(n.leftAt, l.id)
		}
	}
	n.leftAt[id] = n.now.Mono
	n.leftOrder.pushBack(leftInstance{id, n.now.Mono})
}

// heldOut reports whether instance id left less than PeerTimeout ago.
func (n *Node) heldOut(id string) bool {
	at, ok := n.leftAt[id]
	return ok && n.now.Mono-at < n.cfg.PeerTimeout
}

// hostOf is the host part of a host:port address, brackets of an IPv6 one
// removed ("" when it has no port).
func hostOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(addr[:i], "["), "]")
}
