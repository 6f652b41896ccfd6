package state

import "github.com/nexusd/nexusd/internal/chunks"

// Message slabs that are used again.
//
// A run of local publishes makes its messages runMsgsPerSlab at a time in
// one slab, and so does a push's run of one topic (remoteMessage). What
// holds a message of such a slab is counted: the topic's ring, the
// subscriptions (queue, blocked, pending), the run under way or the push
// being received (one hold a slab), streams that have them handed out
// and not yet sent, and links to peers, from the moment a message is
// routed to a peer until the peer's answer completes its push. A slab
// keeps the count of those holds for all its messages, and once it is
// back to 0 the slab goes on the node's free list for a later run
// instead of to the collector. At a few million messages a second the
// messages were more than half of what the daemon allocated, and the
// copies of their payloads (keepPayload) most of the rest.
//
// A handed-out message is held until the stream's shell says it has sent
// it (CreditGranted.Sent), which only a stream opened with ReportsSent
// does; handed to any other stream, its slab is pinned and never reused.
// So is one that goes where holds are not counted, or that a shell may
// still read after the node let it go: held behind a hole or for its
// source to vouch, a retained value, a queue group's copy, a push that
// failed or was under way when its peer went, what a departed peer
// missed. Whatever lets a message go without releasing it (a
// subscription detached with messages queued, a stream that ends) leaves
// its slab held for good: it is then the collector's, as every other
// message is. So a release the node misses costs only reuse; only a
// release without its hold could hand out a message still in use, and
// Config.PoisonReused makes that show in the simulator's checks;
// CheckInvariants checks the holds and the pins.

// msgSlab is a full slab of a run's messages, allocated together, and
// the copies of their borrowed payloads (PublishedBatch.Borrowed,
// PushReceived.Borrowed).
type msgSlab struct {
	msgs   [runMsgsPerSlab]Message
	data   []byte     // payload copies; its array stays with the slab
	holds  int32      // holds on its messages, all told
	pinned bool       // one went where holds are not counted: never reused
	frame  *frameView // the frame its payloads lie in; nil: copied (frames.go)
	viewed *frameView // the frame it viewed first, kept until it is used again (Message.Frame)
	next   *msgSlab
}

// slabPool is the node's free list of full-size slabs, first in first
// out. A slab is freed when the last holder lets go, often a push or a
// stream that another core was just reading it for; taken again at once,
// every store to it waited for that core to give its cache lines up. The
// slab freed longest ago is used first: on cross-node-packed, 4
// alternating pairs against a stack, 2.26-2.94M msg/s against 2.18-2.49M,
// and the store stall of a message's first fields (in fillLocal, a sixth
// of the publishing daemon's CPU in slow runs) gone from its profile.
type slabPool struct {
	free *msgSlab // the oldest freed: taken first
	last *msgSlab // the newest
	n    int
}

// maxFreeSlabs bounds the free list: 256 slabs of 32 messages, about
// 1.5 MB, cover a ring and a subscription queue turning over.
const maxFreeSlabs = 256

// maxHanded bounds the messages a stream has handed out and not reported
// sent; a shell that reports less than it is handed would otherwise grow
// them. Beyond it a message handed out is pinned instead.
const maxHanded = 1 << 16

// runSlab returns a full slab for a run's messages: the free one freed
// longest ago, if there is one.
func (n *Node) runSlab() *msgSlab {
	s := n.slabs.free
	if s == nil {
		return new(msgSlab)
	}
	n.slabs.free = s.next
	if n.slabs.free == nil {
		n.slabs.last = nil
	}
	n.slabs.n--
	data := s.data[:0]
	*s = msgSlab{data: data}
	n.counters.SlabsReused++
	return s
}

// hold counts one more hold on m.
func hold(m *Message) {
	if m.slab != nil {
		m.slab.holds++
	}
}

// release ends one hold on m; the last hold on its slab frees it.
func (n *Node) release(m *Message) {
	if m.slab != nil {
		n.releaseSlab(m.slab)
	}
}

// releaseSlab ends one hold on s; the last frees it.
func (n *Node) releaseSlab(s *msgSlab) { n.releaseSlabN(s, 1) }

// releaseSlabN ends k holds on s; the last frees it.
func (n *Node) releaseSlabN(s *msgSlab, k int32) {
	if s.holds -= k; s.holds > 0 {
		return
	}
	if s.frame != nil {
		n.unview(s.frame, s.pinned)
		s.frame = nil
	}
	if s.pinned {
		return
	}
	if n.slabs.n >= maxFreeSlabs {
		s.pinned = true // the collector's: never counted again
		return
	}
	if n.cfg.PoisonReused {
		poison(s)
	}
	s.next = nil
	if n.slabs.last != nil {
		n.slabs.last.next = s
	} else {
		n.slabs.free = s
	}
	n.slabs.last = s
	n.slabs.n++
}

// pin makes m's slab the collector's: m went where holds are not counted.
func pin(m *Message) {
	if m.slab != nil {
		m.slab.pinned = true
	}
}

// poisonTopic marks a message whose slab went back to the free list: a
// holder the node did not count would read it.
const poisonTopic = "\x00reused"

// poison scrambles a freed slab's messages, keeping their slab links, so
// that anything still reading one sees nonsense a check catches: no
// topic, numbers from nowhere.
func poison(s *msgSlab) {
	for i := range s.msgs {
		m := &s.msgs[i]
		m.Topic, m.Source, m.ID = poisonTopic, poisonTopic, poisonTopic
		m.Seq, m.SourceSeq, m.PrevSeq, m.IDNum = 1<<62, 1<<62, 1<<62, 1<<62
		m.Payload = nil
	}
	data := s.data[:cap(s.data)]
	for i := range data {
		data[i] = 0xee
	}
}

// Payload copies: a slab's own, sized for its messages when the first is
// copied; what does not fit, or has no slab, goes to a chunk shared with
// the copies after it, as a shell's arena would hold them.
const (
	slabDataMin   = 4 << 10
	slabDataMax   = 64 << 10
	chunkBytes    = 8 << 10
	maxChunkBytes = 256 << 10 // a packed frame's worth
	maxChunkCopy  = 512       // larger payloads are copied alone
)

// keepPayload copies a borrowed payload for a message of slab s (nil: of
// no counted slab). The copy's capacity ends with it.
func (n *Node) keepPayload(s *msgSlab, p []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	if s != nil {
		if cap(s.data) == 0 {
			s.data = chunks.New(min(max(slabDataMin, runMsgsPerSlab*len(p)), slabDataMax))
		}
		if k := len(s.data); cap(s.data)-k >= len(p) {
			s.data = append(s.data, p...)
			return s.data[k:len(s.data):len(s.data)]
		}
	}
	// A new chunk holds what the run has left to copy (its tail, short of
	// a slab: runMessages), as a frame's arena did: a run's messages are
	// let go in order.
	size := min(max(chunkBytes, n.run.copyLeft), maxChunkBytes)
	if n.run.copyLeft > 0 { // (0 for a push's)
		n.run.copyLeft -= len(p)
	}
	return chunks.Copy(&n.chunk, p, size, maxChunkCopy)
}

// handout is what a stream was handed, in order: n messages in a row of
// counted slab slab, or (slab nil) n events with nothing to release. A
// stream hands out a run's messages slab by slab, so a slab's worth is one
// entry, and the shell's report releases it with one subtraction, without
// reading the messages again (another core wrote them out meanwhile).
type handout struct {
	slab *msgSlab
	n    int
}

// handOut notes an event handed out on s's stream (m: its message, if
// any): a counted message is held until the shell reports it sent, or
// pinned when it never will.
func (s *subscription) handOut(m *Message) {
	var slab *msgSlab
	if m != nil {
		slab = m.slab
	}
	if !s.reportsSent {
		if slab != nil {
			slab.pinned = true
		}
		return
	}
	if slab != nil && s.handedMsgs >= maxHanded {
		// Too much unreported: this one is the collector's, and counts
		// as an event with nothing to release, so the order stays.
		slab.pinned = true
		slab = nil
	}
	if slab != nil {
		slab.holds++
		s.handedMsgs++
	}
	if k := s.handed.len(); k > 0 {
		if h := s.handed.atPtr(k - 1); h.slab == slab {
			h.n++ // one entry for a run of one slab's messages, or of events
			return
		}
	}
	s.handed.pushBack(handout{slab: slab, n: 1})
}

// sent releases the oldest k events s's stream had handed out.
func (n *Node) sent(s *subscription, k int) {
	for k > 0 && s.handed.len() > 0 {
		h := s.handed.atPtr(0)
		d := min(h.n, k)
		if h.slab != nil {
			s.handedMsgs -= d
			n.releaseSlabN(h.slab, int32(d))
		}
		k -= d
		if h.n -= d; h.n > 0 {
			return
		}
		s.handed.popFront()
	}
}
