package state

// The reaper sweeps out what has expired (ringed and queued messages past
// their TTL, retained values past theirs, tombstones past TombstoneTTL) so
// expired data stops holding memory. It runs every ReapInterval while the
// node holds anything that can expire.

func (n *Node) expirableAdded() {
	n.expirable++
	if n.reapAlarm.want == Never {
		n.arm(&n.reapAlarm, n.now.Mono+n.cfg.ReapInterval, timer{kind: tReap})
	}
}

func (n *Node) reap() {
	now := n.now.WallMs
	n.reapRings(now)
	n.reapRetained()
	for _, id := range n.sortedSubIDs() {
		s := n.subs[id]
		s.queue.filter(func(m *Message) bool {
			if m.expired(now) {
				n.subRelease(s, m)
				n.expire(s)
				n.release(m)
				return false
			}
			return true
		})
		n.pump(s)
	}
	// Count what can still expire; stop sweeping when nothing can.
	left := 0
	for _, t := range n.topics.m {
		for i := 0; i < t.ring.len(); i++ {
			if t.ring.at(i).ExpiresMs != 0 {
				left++
			}
		}
	}
	for _, m := range n.retained.byTopic {
		if m.ExpiresMs != 0 || len(m.Payload) == 0 {
			left++
		}
	}
	for _, s := range n.subs {
		for i := 0; i < s.queue.len(); i++ {
			if s.queue.at(i).ExpiresMs != 0 {
				left++
			}
		}
	}
	n.expirable = left
	if left > 0 {
		n.arm(&n.reapAlarm, n.now.Mono+n.cfg.ReapInterval, timer{kind: tReap})
	}
}
