package state

import "time"

// Retained timestamps from peers. Retained values resolve by timestamp, so
// one stamped far in the future would win every later write, on the nodes
// that took it, for as long as the stamp stays ahead. A value stamped more
// than MaxClockSkew ahead of its source's clock, as far as we know that
// clock, is not taken on our word: its source is asked to vouch for it (a
// resend of its number, which answers from the source's ring, what it
// still owes us, and its retained store). It is stored if the source holds
// that very message, with that stamp, and refused and counted if not, or if
// no peer of ours can vouch for it. A call that gets no answer is made
// again (stampAsks). Either way every node ends with the
// same value: what the source vouches for is the truth, whatever each
// node's view of its clock. Once the source is gone nobody can vouch, so a
// value a peer relays for it is taken as that peer took it: refused, it
// would leave a node that learns it late on another value than the rest.
// The message itself goes on as any other: its subscribers get it, and its
// number leaves no hole.
//
// A source's clock is read from its beacons and from the time each of its
// push batches was sent, against our monotonic clock (so our own wall
// clock stepping changes nothing), at the furthest ahead it ever showed (so
// its clock stepping back does not turn what it stamped before into the
// future). A source we do not know is judged by the furthest-ahead clock we
// know, ours included.

// maxStampsToVouch bounds the retained values waiting for their source.
const maxStampsToVouch = 1024

// takeRetained stores a retained value from a peer, or has its source
// vouch for it first when its stamp looks too far ahead. relayed: a peer
// other than its source passes it on (its state, a sync_only push), having
// taken it itself; when its source is gone (it left, or restarted as
// another instance) nobody can vouch for it any more, and the value is
// taken as that peer took it while the source lived, so that every node
// ends with the same value.
func (n *Node) takeRetained(m *Message, relayed bool) {
	if !n.stampAhead(&m.Envelope) {
		n.applyRetained(m)
		return
	}
	p := n.peers.get(m.Source)
	if p == nil && relayed {
		n.applyRetained(m)
		return
	}
	if _, waiting := n.stampWait[m.ID]; waiting {
		return // asked already
	}
	if p == nil || m.SourceSeq == 0 || len(n.stampWait) >= maxStampsToVouch {
		n.reject(reasonRetainedFuture)
		return
	}
	n.stampWait[m.ID] = m
	n.holdBytes(m)
	n.counters.StampsToVouch++
	n.askStamp(p, m, 0)
}

// askStamp asks m's source p to vouch for it, the tries-th time again.
func (n *Node) askStamp(p *peer, m *Message, tries int) {
	c := n.newCall(call{kind: callResend, peer: p, stamp: m.ID, tries: tries})
	n.counters.ResendsRequested++
	n.emit(&RequestResend{Call: c, Peer: p.id, Addr: p.addr, Topic: m.Topic, From: m.SourceSeq, To: m.SourceSeq})
}

// stampAsks bounds how many times a source is asked about one stamp when
// no answer comes (the call failed: a partition, a timeout).
const stampAsks = 4

// onStampVouched takes the source's answer about a retained value's stamp
// (c: the call that asked). A call that failed without an answer is asked
// again while the source is still a peer, up to stampAsks times: refused
// for want of an answer, the value would stay on the nodes that took it
// and off this one for good, since nothing fetches it again.
func (n *Node) onStampVouched(c call, e *ResendCompleted) {
	id := c.stamp
	m := n.stampWait[id]
	if m == nil {
		return
	}
	if e.Err != nil && c.tries+1 < stampAsks {
		if p := n.peers.get(m.Source); p != nil {
			n.askStamp(p, m, c.tries+1)
			return
		}
	}
	delete(n.stampWait, id)
	n.unhold(m)
	if e.Err == nil && e.Reply != nil && e.Reply.Instance == m.Source {
		for i := range e.Reply.Msgs {
			if v := &e.Reply.Msgs[i]; v.ID == m.ID && v.TimestampMs == m.TimestampMs && v.Topic == m.Topic {
				n.counters.StampsVouched++
				n.applyRetained(m)
				return
			}
		}
	}
	n.reject(reasonRetainedFuture)
}

// stampAhead reports whether a retained value is stamped more than
// MaxClockSkew ahead of its source's clock as we know it.
func (n *Node) stampAhead(e *Envelope) bool {
	if !e.Retain {
		return false
	}
	mono := n.now.Mono.Milliseconds()
	clock := n.now.WallMs
	if p := n.peers.get(e.Source); p != nil && p.clockAnchor != 0 {
		clock = p.clockAnchor + mono
	} else if p == nil {
		n.peers.each(func(p *peer) {
			if p.clockAnchor != 0 {
				clock = max(clock, p.clockAnchor+mono)
			}
		})
	}
	return e.TimestampMs > clock+n.cfg.MaxClockSkew.Milliseconds()
}

// senderClock learns a pushing peer's clock from the time its batch was
// sent. Pushes are one hop, so the source of any message it routes (not a
// retained value it relays) is the sender itself.
func (n *Node) senderClock(e *PushReceived) {
	for i := range e.Envs {
		if !e.Envs[i].SyncOnly {
			if p := n.peers.get(e.Envs[i].Source); p != nil {
				p.sawClock(e.SentAtMs, n.now.Mono)
			}
			return
		}
	}
}

// sawClock notes that the peer's wall clock read wallMs at our monotonic
// time mono.
func (p *peer) sawClock(wallMs int64, mono time.Duration) {
	a := wallMs - mono.Milliseconds()
	if p.clockAnchor == 0 || a > p.clockAnchor {
		p.clockAnchor = a
	}
}
