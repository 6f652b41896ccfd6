package state

import (
	"strings"
	"time"
)

// Admission: who may be a peer, and at which address (docs/protocol.md §2.3,
// §10.3, §10.5).
//
//   - With Config.Members, only a beacon that proved the cluster key
//     (Beacon.Member, checked by the shell) admits or refreshes a peer.
//   - A member's beacons are numbered (epoch, counter); one not above the
//     last taken from its instance is a replay and changes nothing, even
//     after the instance was removed (its last pair is remembered), so a
//     captured beacon cannot keep a stopped node alive or bring it back.
//   - One address may introduce NewPeerBurst new instances at once and
//     NewPeerRate a second after that (one back from the dead, or a
//     restart at a known peer's address, is not new): a flood of made-up
//     ids from one address cannot fill the peer table.
//   - A known instance is only ever reached at one address. A beacon that
//     names it from another is a claim: while the peer is alive where it
//     is, the claim is a conflict, reported once and not followed; once it
//     has gone silent there, the claimed address is probed, and the peer
//     moves only if the instance answering there is the peer.

// beaconMark is a member's (epoch, counter) pair.
type beaconMark struct{ epoch, counter uint64 }

func (m beaconMark) after(o beaconMark) bool {
	return m.epoch > o.epoch || m.epoch == o.epoch && m.counter > o.counter
}

// maxPastMarks bounds the pairs remembered for removed instances.
const maxPastMarks = maxPeers

// fresh reports whether member beacon b (of peer p, nil when unknown) is
// newer than any taken from its instance, and if so records it.
func (n *Node) fresh(p *peer, b *Beacon) bool {
	m := beaconMark{b.Epoch, b.Counter}
	last, known := beaconMark{}, false
	if p != nil {
		last, known = p.lastBeacon, true
	} else {
		last, known = n.pastMarks[b.Instance]
	}
	if known && !m.after(last) {
		return false
	}
	if p != nil {
		p.lastBeacon = m
	}
	return true
}

// rememberMark keeps a removed member's last pair, so its replays stay
// refused.
func (n *Node) rememberMark(p *peer) {
	if p.lastBeacon == (beaconMark{}) {
		return
	}
	if _, ok := n.pastMarks[p.id]; !ok {
		n.pastOrder.pushBack(p.id)
	}
	n.pastMarks[p.id] = p.lastBeacon
	for n.pastOrder.len() > maxPastMarks {
		delete(n.pastMarks, n.pastOrder.popFront())
	}
}

// takeMark gives a returning instance its remembered pair back.
func (n *Node) takeMark(p *peer, b *Beacon) {
	if b.Member {
		p.lastBeacon = beaconMark{b.Epoch, b.Counter}
	}
	if _, ok := n.pastMarks[p.id]; ok {
		delete(n.pastMarks, p.id)
		n.pastOrder.filter(func(id string) bool { return id != p.id })
	}
}

// newPeerBucket is a token bucket of new instances for one address.
type newPeerBucket struct {
	tokens float64
	at     time.Duration
}

// admitNew takes a token from addr's bucket of new instances.
func (n *Node) admitNew(addr string) bool {
	host := addr
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		host = addr[:i]
	}
	b := n.newPeers[host]
	if b == nil {
		if len(n.newPeers) >= maxPeers {
			clear(n.newPeers) // forgetting only lets addresses start full again
		}
		b = &newPeerBucket{tokens: float64(n.cfg.NewPeerBurst), at: n.now.Mono}
		n.newPeers[host] = b
	}
	b.tokens = min(float64(n.cfg.NewPeerBurst), b.tokens+(n.now.Mono-b.at).Seconds()*n.cfg.NewPeerRate)
	b.at = n.now.Mono
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// claim handles a beacon that names peer p at addr, not p's address.
func (n *Node) claim(p *peer, addr string) {
	if p.status == Alive {
		if p.conflictAddr != addr {
			p.conflictAddr = addr
			n.counters.AddrConflicts++
			n.emit(&AddressConflict{Peer: p.id, Addr: p.addr, Claimed: addr})
		}
		return
	}
	if p.moveCall != 0 {
		return // one claim checked at a time
	}
	p.moveAddr = addr
	p.moveCall = n.newCall(call{kind: callMove, peer: p})
	n.emit(&Probe{Call: p.moveCall, Peer: p.id, Addr: addr, Move: true})
}

// moveProbed completes the probe of a claimed address: the peer moves
// there if the instance answered, it is still silent where it was, and no
// other peer of ours lives there.
func (n *Node) moveProbed(c call, err error) {
	p := c.peer
	addr := p.moveAddr
	p.moveCall, p.moveAddr = 0, ""
	if p.removed || err != nil || p.status == Alive {
		return
	}
	if other := n.byAddr[addr]; other != nil && other != p {
		n.counters.PeersReplaced++
		n.removePeer(other, false)
	}
	delete(n.byAddr, p.addr)
	p.addr, p.conflictAddr = addr, ""
	n.byAddr[addr] = p
	n.counters.PeersMoved++
	n.heard(p)
}
