package state

import (
	"slices"
	"strings"
	"time"
)

// PeerStatus is where a peer stands in failure detection. A dead peer is
// removed, so only these two are ever held.
type PeerStatus uint8

const (
	Alive PeerStatus = iota + 1
	Suspected
)

func (s PeerStatus) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspected:
		return "suspected"
	}
	return "dead"
}

// Limits on what a beacon may carry; anything longer is not a NexusD beacon.
const (
	maxIDBytes   = 64
	maxAddrBytes = 256
	maxPeers     = 4096
)

// peerSlots numbers the live peers with small reusable slots; a slot's
// generation changes on every reuse.
type peerSlots struct {
	peer []*peer
	gen  []uint16
	free []uint32
}

func (s *peerSlots) take(p *peer) {
	if n := len(s.free); n > 0 {
		p.slot = s.free[n-1]
		s.free = s.free[:n-1]
		s.gen[p.slot]++
	} else {
		p.slot = uint32(len(s.peer))
		s.peer = append(s.peer, nil)
		s.gen = append(s.gen, 0)
	}
	s.peer[p.slot] = p
}

func (s *peerSlots) release(p *peer) {
	s.peer[p.slot] = nil
	s.free = append(s.free, p.slot)
}

type peer struct {
	// What every beacon touches comes first, to share a cache line: a node
	// handles a beacon from every peer every second.
	removed      bool
	status       PeerStatus
	probed       bool // probed during this suspicion
	fetched      bool // a fetch has succeeded at least once
	fetchWaiting bool
	lastHeard    time.Duration // monotonic: last beacon or probe answer
	lastSeenMs   int64         // our wall clock at that moment
	clockAnchor  int64         // its wall clock minus our monotonic clock (ms), the most its beacons showed; 0: none
	beaconHash   uint64
	syncedHash   uint64 // hash of the patterns last fetched
	fetchCall    uint64
	qPrev, qNext *peer // silence.go: heardQ or silentQ, by lastHeard
	queue        *peerQueue

	id, addr  string
	probeCall uint64

	// admit.go
	lastBeacon   beaconMark // the last member beacon's pair taken
	moveAddr     string     // a claimed new address being probed
	moveCall     uint64
	conflictAddr string // the last claimed address reported as a conflict

	// gossip.go
	everFetching bool
	lastFetch    time.Duration
	fetchAlarm   alarm
	patterns     []string
	groups       []GroupMembers // its valid advertised queue groups (groups.go)

	link link   // link.go: pushes to this peer
	mark uint64 // per-publish dedup
	slot uint32 // in Node.slots
}

func (n *Node) onBeacon(b *Beacon) {
	switch {
	case b.Instance == n.cfg.NodeID:
		n.counters.BeaconsIgnored++
		return
	case b.Cluster != n.cfg.Cluster:
		n.reject(reasonForeignCluster)
		return
	case b.Instance == "" || len(b.Instance) > maxIDBytes || b.Addr == "" || len(b.Addr) > maxAddrBytes || b.Version < 1:
		n.reject(reasonBadBeacon)
		return
	case n.cfg.Members && !b.Member:
		n.reject(reasonNotMember)
		return
	}
	p := n.peers.get(b.Instance)
	if b.Member && !n.fresh(p, b) {
		n.reject(reasonReplayed)
		return
	}
	if b.Leaving {
		n.onLeave(p, b)
		return
	}
	if p == nil && n.heldOut(b.Instance) {
		n.reject(reasonAfterLeave)
		return
	}
	if p == nil && n.byAddr[b.Addr] == nil && n.chains[b.Instance] == nil && !n.admitNew(b.Addr) {
		n.reject(reasonNewPeerRate)
		return
	}
	n.counters.BeaconsReceived++
	if p == nil {
		if old := n.byAddr[b.Addr]; old != nil {
			// A new instance at a known endpoint: the old process is gone.
			n.counters.PeersReplaced++
			n.removePeer(old, false)
		}
		if gone, ok := n.departedAt[b.Addr]; ok && gone != b.Instance {
			// A new process where a dead one lived: that one is not coming back.
			n.dropChain(gone)
			n.sourceGone(gone)
		}
		delete(n.departedAt, b.Addr)
		if n.peers.len() >= maxPeers {
			n.reject(reasonTooManyPeers)
			return
		}
		p = &peer{id: b.Instance, addr: b.Addr, status: Alive, fetchAlarm: newAlarm()}
		n.takeMark(p, b)
		p.link.init()
		p.link.chain, p.patterns = n.chainFor(p.id)
		for _, pat := range p.patterns {
			n.peerRoutes.add(pat, p)
		}
		n.peers.put(p)
		n.slots.take(p)
		n.byAddr[p.addr] = p
		n.peerList = nil
		n.returned(p)
		n.sourceBack(p.id)
	} else if p.addr != b.Addr {
		n.claim(p, b.Addr)
		return
	}
	n.heard(p)
	p.beaconHash = b.Hash
	if b.WallMs != 0 {
		// Its clock against our monotonic one, which never jumps: our own
		// wall clock stepping does not move it. The most it ever showed, not
		// the latest: a clock stepped back must not turn what it stamped
		// before into the future.
		p.sawClock(b.WallMs, n.now.Mono)
	}
	n.maybeFetch(p)
}

// heard records a sign of life: the peer is alive for SuspectAfter more.
func (n *Node) heard(p *peer) {
	p.lastHeard = n.now.Mono
	p.lastSeenMs = n.now.WallMs
	p.status = Alive
	p.probed = false
	n.requeue(p, &n.heardQ)
}

func (n *Node) onProbeCompleted(e *ProbeCompleted) {
	if c, ok := n.calls[e.Call]; ok && c.kind == callMove {
		delete(n.calls, e.Call)
		n.moveProbed(c, e.Err)
		return
	}
	c, ok := n.takeCall(e.Call, callProbe)
	if !ok {
		return
	}
	p := c.peer
	if p.probeCall == e.Call {
		p.probeCall = 0
	}
	if p.removed {
		return
	}
	if e.Err != nil {
		n.counters.ProbesFailed++
		return
	}
	n.counters.ProbesOK++
	n.heard(p)
}

// removePeer forgets a peer: its routes, its pushes waiting, its place in
// the fetch queue. Calls under way are completed later and ignored. A dead
// peer (mayReturn) leaves its chain and routes behind for
// DepartedRetention; a replaced one (its process restarted) leaves nothing.
func (n *Node) removePeer(p *peer, mayReturn bool) {
	p.removed = true
	n.rememberMark(p)
	unqueue(p)
	n.armSilence()
	n.peers.del(p.id)
	n.slots.release(p)
	if n.byAddr[p.addr] == p {
		delete(n.byAddr, p.addr)
	}
	n.peerList = nil
	for _, pat := range p.patterns {
		n.peerRoutes.remove(pat, p)
	}
	n.dropPeerGroups(p)
	// Pushes still under way will complete into nothing: their slot is
	// gone. What may not have arrived is kept for its return, in order.
	unsent := n.unsent(&p.link)
	if mayReturn {
		n.departChain(p.id, p.addr, p.patterns, unsent)
	} else {
		n.counters.BacklogDropped += uint64(len(unsent))
		for _, o := range unsent {
			n.release(o.m)
		}
		n.dropChain(p.id)
	}
	p.patterns = nil
	if mayReturn {
		n.sourceAway(p.id, p.addr)
	} else {
		n.sourceGone(p.id)
	}
	n.emit(&ClosePeer{Peer: p.id, Addr: p.addr})
}

// sortedPeers lists the peers in id order, for iteration that decides
// behaviour.
func (n *Node) sortedPeers() []*peer {
	if n.peerList == nil {
		n.peerList = make([]*peer, 0, n.peers.len())
		n.peers.each(func(p *peer) { n.peerList = append(n.peerList, p) })
		slices.SortFunc(n.peerList, func(a, b *peer) int { return strings.Compare(a.id, b.id) })
	}
	return n.peerList
}
