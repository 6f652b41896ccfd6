package state

import "slices"

// Plausibility of numbers from peers. A source numbers its own messages
// 1, 2, 3... per topic, so a number far beyond the last one taken in (or a
// first number far from 1) is more likely a bug or a forgery than real:
// taken in, it would move the stream past every real number below it, and
// they would all be dropped as late. Such a message waits, with whatever
// arrives after it on its stream, while its source is asked to vouch for
// it (a resend request for that one number); the answer carries the
// highest number the source ever issued on the topic. A number above that
// was never issued: the message is refused and counted, and the stream goes
// on as if it had never come. A real one goes on its way, one round trip
// late. Every repair's answer is held to the same bound (repair.go).
//
// maxSeqJump is how far beyond a stream's last number (or beyond 0, for
// the first) a number may go unvouched: more than any source issues
// between two messages it sends us, but after a long absence from a busy
// topic, which then costs one round trip.
const maxSeqJump = 1 << 20

// implausible reports whether seq needs vouching for on stream s (nil: a
// stream not yet seen).
func (n *Node) implausible(s *inStream, seq uint64) bool {
	if s == nil || s.unanchored {
		return seq > maxSeqJump
	}
	return seq > s.last+maxSeqJump
}

// verify holds m until its source vouches for its number.
func (n *Node) verify(k streamKey, s *inStream, m *Message) {
	if n.peers.get(k.source) == nil {
		// No peer of ours can vouch for it: take it as it comes. It can
		// only skew the numbering of a source we do not know.
		n.sequence(s, m)
		return
	}
	if s == nil {
		s = n.newStream(k, 0)
		s.unanchored = true
	}
	n.counters.SeqsToVouch++
	s.verifying = m.SourceSeq
	n.holdBytes(m)
	s.waiting = append(s.waiting[:0], m)
	s.attempts = 0
	n.arm(&s.alarm, n.now.Mono, timer{kind: tRepair, in: s})
}

// askToVouch asks the source for the number being vouched for, or gives up
// on it after RepairAttempts.
func (n *Node) askToVouch(s *inStream) {
	if s.resendCall != 0 {
		return
	}
	p := n.peers.get(s.key.source)
	if s.attempts >= n.cfg.RepairAttempts || p == nil {
		n.vouched(s, false)
		return
	}
	s.attempts++
	s.resendCall = n.newCall(call{kind: callResend, peer: p, in: s, to: s.verifying, vouch: s.verifying})
	n.counters.ResendsRequested++
	n.emit(&RequestResend{Call: s.resendCall, Peer: p.id, Addr: p.addr, Topic: s.key.topic, From: s.verifying, To: s.verifying})
}

// onVouched takes the source's answer about number v.
func (n *Node) onVouched(s *inStream, v uint64, e *ResendCompleted) {
	if s.removed || s.verifying != v {
		return
	}
	switch {
	case e.Err != nil || e.Reply == nil:
		n.arm(&s.alarm, n.now.Mono+n.repairBackoff(s), timer{kind: tRepair, in: s})
	case e.Reply.Instance != s.key.source:
		n.vouched(s, false) // another process answers there now: no one can vouch
	default:
		// A source too old to say its latest number (0) cannot refute it.
		n.vouched(s, e.Reply.Latest == 0 || e.Reply.Latest >= v)
	}
}

// vouched ends the wait: the message with the number is taken in (real)
// or refused (never issued, or no one would say), and what waited behind
// it is sequenced as if it had just arrived.
func (n *Node) vouched(s *inStream, real bool) {
	msgs := s.waiting
	s.waiting, s.verifying = nil, 0
	for _, m := range msgs {
		n.unhold(m)
	}
	first := msgs[0]
	if s.unanchored {
		// The stream was made only to wait in: the first real message
		// makes it anew.
		s.unanchored = false
		n.dropStream(s)
		s = nil
	}
	if real {
		n.sequence(s, first)
	} else {
		n.reject(reasonSequenceImplausible)
	}
	for _, m := range msgs[1:] {
		n.sequenceRemote(m)
	}
	if s != nil && !s.removed {
		n.restartRepair(s) // a hole that waited meanwhile is asked for again
	}
}

// dropImplausible refuses the held messages of snapshot (those held when a
// resend was asked for) that claim a number above latest, the highest the
// source had issued when it answered.
func (n *Node) dropImplausible(s *inStream, snapshot []*Message, latest uint64) {
	s.held = slices.DeleteFunc(s.held, func(h *Message) bool {
		bad := h.SourceSeq > latest && slices.Contains(snapshot, h)
		if bad {
			n.unhold(h)
			n.reject(reasonSequenceImplausible)
		}
		return bad
	})
	if len(s.held) == 0 {
		s.alarm.want = Never
		s.attempts = 0
	}
}
