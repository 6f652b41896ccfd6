package state

import "time"

// Failure detection by silence. Every peer sits in one of two queues
// ordered by lastHeard, oldest first: `heardQ` (alive, suspected at
// lastHeard+SuspectAfter) and `silentQ` (suspected and probed, dead at
// lastHeard+PeerTimeout). Hearing a peer moves it to the back of heardQ;
// one node-wide alarm wakes for whichever head is due first.
//
// A timer per peer would do the same with a heap entry popped and
// re-pushed every couple of seconds for every peer, since each beacon
// moves the deadline on. With a thousand peers that is most of what an
// idle node does; the queues touch only their heads.
type peerQueue struct{ head, tail *peer }

func (q *peerQueue) pushBack(p *peer) {
	p.qPrev, p.qNext, p.queue = q.tail, nil, q
	if q.tail != nil {
		q.tail.qNext = p
	} else {
		q.head = p
	}
	q.tail = p
}

// unqueue takes p out of its queue, if it is in one.
func unqueue(p *peer) {
	q := p.queue
	if q == nil {
		return
	}
	if p.qPrev != nil {
		p.qPrev.qNext = p.qNext
	} else {
		q.head = p.qNext
	}
	if p.qNext != nil {
		p.qNext.qPrev = p.qPrev
	} else {
		q.tail = p.qPrev
	}
	p.qPrev, p.qNext, p.queue = nil, nil, nil
}

// requeue moves p to the back of q, keeping the silence alarm on the
// earliest deadline when p was at the front of a queue.
func (n *Node) requeue(p *peer, q *peerQueue) {
	wasHead := p.queue == nil || p.queue.head == p
	if p.queue == q && q.tail == p {
		return
	}
	unqueue(p)
	q.pushBack(p)
	if wasHead {
		n.armSilence()
	}
}

// silenceDeadline is the earliest time a peer needs checking, and which
// queue's head it belongs to.
func (n *Node) silenceDeadline() (time.Duration, *peerQueue) {
	at, q := Never, (*peerQueue)(nil)
	if p := n.heardQ.head; p != nil {
		at, q = p.lastHeard+n.cfg.SuspectAfter, &n.heardQ
	}
	if p := n.silentQ.head; p != nil && p.lastHeard+n.cfg.PeerTimeout < at {
		at, q = p.lastHeard+n.cfg.PeerTimeout, &n.silentQ
	}
	return at, q
}

func (n *Node) armSilence() {
	at, _ := n.silenceDeadline()
	n.arm(&n.silenceAlarm, at, timer{kind: tPeer})
}

// silenceDue handles, in deadline order, every peer due by `upTo` (the
// alarm's time): a peer silent for SuspectAfter is suspected and probed
// once; one silent for PeerTimeout is dead and removed.
func (n *Node) silenceDue(upTo time.Duration) {
	for {
		at, q := n.silenceDeadline()
		if q == nil || at > upTo {
			break
		}
		p := q.head
		if q == &n.silentQ {
			unqueue(p)
			n.counters.PeersDead++
			n.removePeer(p, true)
			continue
		}
		if p.status == Alive {
			p.status = Suspected
			n.counters.PeersSuspected++
		}
		unqueue(p)
		n.silentQ.pushBack(p)
		if !p.probed && p.probeCall == 0 {
			p.probed = true
			p.probeCall = n.newCall(call{kind: callProbe, peer: p})
			n.counters.ProbesSent++
			n.emit(&Probe{Call: p.probeCall, Peer: p.id, Addr: p.addr})
		}
	}
	n.armSilence()
}
