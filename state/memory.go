package state

import (
	"cmp"
	"slices"
)

// Memory. Every queue and store that holds messages charges each one its
// payload and text fields plus a fixed overhead (msgOverheadBytes) against
// its own byte cap, and the node keeps the sum under one budget
// (BudgetBytes). A message held in several places (a ring and three
// subscription queues) is charged in each, as each would hold it alone:
// the figures are an upper bound of what the node holds, never less.
//
//	ring       replay rings, all topics       RingBytes       oldest message goes
//	queues     each subscription's queue      QueueBytes      its policy decides
//	links      each peer's pushes not done    PeerBacklogBytes oldest waiting goes
//	departed   what dead peers missed         PeerBacklogBytes each, oldest goes
//	held       behind holes, or vouching      HeldBytes       more is refused for now
//	retained   retained values                MaxRetainedBytes more is refused
//	dedup      the duplicate filter           DedupWindow entries, fixed
//
// When the sum passes BudgetBytes, shedBudget takes from the stores that can
// give, in this order, until it is back under: the rings (replay and
// repair reach back less far), what dead peers missed, the largest peer
// backlogs, the largest subscription queues (by each one's policy, its
// subscriber warned). What is held behind holes, retained values and
// pushes in flight are not shed; while the budget is spent, more of them is
// refused (holds ask for a retry, retained values are refused).

// msgOverheadBytes is what a held message costs beyond its payload and
// text fields: the Message itself (184 bytes with its links, and 80 more
// for its Extras when it has any), its id string, and a slot in each
// container that holds it.
const msgOverheadBytes = 320

// dedupEntryBytes is what one block of the duplicate filter costs
// (dedup.go): its 16 bytes in the ring and two 4-byte slots of the
// open-addressing table (kept at most half full).
const dedupEntryBytes = 3 * 8

// cost is what holding m charges a store.
func (m *Message) cost() int {
	return len(m.Payload) + len(m.Topic) + m.Extras.textBytes() + msgOverheadBytes
}

// memClass names what holds bytes; the order is the shedding order.
type memClass uint8

const (
	memRing memClass = iota
	memDeparted
	memLinks
	memQueues
	memHeld
	memRetained
	memDedup
	memClasses
)

var memNames = [memClasses]string{"ring", "departed", "backlog", "queue", "held", "retained", "dedup"}

// memory is the node's byte accounting: each class's total and their sum.
type memory struct {
	class [memClasses]int
	total int
}

func (n *Node) charge(c memClass, delta int) {
	n.mem.class[c] += delta
	n.mem.total += delta
}

// overBudget reports whether holding delta more bytes would pass the
// budget.
func (n *Node) overBudget(delta int) bool { return n.mem.total+delta > n.cfg.BudgetBytes }

// shedBudget brings the node back under its budget, shedding by each
// store's policy, and counts what it shed.
func (n *Node) shedBudget() {
	if n.mem.total <= n.cfg.BudgetBytes {
		return
	}
	for n.mem.total > n.cfg.BudgetBytes && n.buffer.first != nil {
		n.evictOldestRinged(memRing)
	}
	for n.mem.total > n.cfg.BudgetBytes && n.shedDeparted() {
	}
	for n.mem.total > n.cfg.BudgetBytes && n.shedLargestBacklog() {
	}
	for n.mem.total > n.cfg.BudgetBytes && n.shedLargestQueue() {
	}
}

// shed counts a message a store gave up for the budget or its own cap.
func (n *Node) shed(c memClass, bytes int) {
	n.counters.Shed[memNames[c]]++
	n.counters.ShedBytes[memNames[c]] += uint64(bytes)
}

// shedDeparted drops the oldest message a dead peer missed, from the peer
// that died first; false when there is none.
func (n *Node) shedDeparted() bool {
	for i := 0; i < n.departedOrder.len(); i++ {
		if c := n.departedChain(n.departedOrder.at(i)); c != nil && c.missed.len() > 0 {
			n.dropMissed(c)
			return true
		}
	}
	return false
}

// shedLargestBacklog drops the oldest waiting push of the peer with the
// most bytes waiting; false when nothing waits.
func (n *Node) shedLargestBacklog() bool {
	var worst *peer
	for _, p := range n.sortedPeers() {
		if p.link.waiting() > 0 && (worst == nil || p.link.bytes > worst.link.bytes) {
			worst = p
		}
	}
	if worst == nil {
		return false
	}
	n.shedBacklog(&worst.link, memLinks)
	return true
}

// shedLargestQueue makes the subscription holding the most bytes drop one
// queued message by its policy; false when every queue is empty.
func (n *Node) shedLargestQueue() bool {
	subs := make([]*subscription, 0, len(n.subs))
	for _, s := range n.subs {
		if s.queue.len()+s.blocked.len() > 0 {
			subs = append(subs, s)
		}
	}
	if len(subs) == 0 {
		return false
	}
	s := slices.MaxFunc(subs, func(a, b *subscription) int {
		if c := cmp.Compare(a.bytes, b.bytes); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id) // the smaller id, to be deterministic
	})
	n.shedQueued(s)
	return true
}

// MemoryStatus is the node's byte accounting, by store.
type MemoryStatus struct {
	Ring, Queues, Backlogs, Departed, Held, Retained, Dedup int
	Total, Budget                                           int
}

// Memory is the node's byte accounting, by store; it costs nothing to ask.
func (n *Node) Memory() MemoryStatus { return n.memoryStatus() }

func (n *Node) memoryStatus() MemoryStatus {
	c := &n.mem.class
	return MemoryStatus{Ring: c[memRing], Queues: c[memQueues], Backlogs: c[memLinks], Departed: c[memDeparted],
		Held: c[memHeld], Retained: c[memRetained], Dedup: c[memDedup], Total: n.mem.total, Budget: n.cfg.BudgetBytes}
}
