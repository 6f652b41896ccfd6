package state

import "time"

// Timers: one min-heap of deadlines, ordered by (time, insertion), so equal
// deadlines fire in the order they were set on every run.
//
// An alarm is one recurring reason to wake (a peer's suspicion check, a
// subscription's heartbeat...). Moving an alarm later does not touch the
// heap: the earlier entry fires, sees the alarm wants a later time, and
// re-arms. Moving it earlier pushes a new entry; the old one is recognised
// as stale when it surfaces. So the heap holds at most a few entries per
// alarm however often the alarm moves.
type timerKind uint8

const (
	tBeacon timerKind = iota + 1
	tReap
	tPeer      // silence.go: suspicion, probe and death checks, node-wide
	tFetch     // a fetch allowed again after FetchInterval
	tPushRetry // a peer's backlog may be pushed again
	tRepair    // a hole's grace or retry time
	tHeartbeat
	tWarning
	tBlock // a blocked message's timeout
	tPause // a paused subscription's expiry
)

type alarm struct {
	want  time.Duration // when the owner wants to wake; Never = not at all
	armed time.Duration // the earliest live heap entry; Never = none
}

func newAlarm() alarm { return alarm{want: Never, armed: Never} }

type timer struct {
	at   time.Duration
	seq  uint64
	kind timerKind
	peer *peer
	sub  *subscription
	in   *inStream
}

type timerHeap []timer

func (h timerHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

// The heap is 4-ary: half the levels of a binary heap, and a node's four
// children share a cache line or two, which matters when a node has a
// timer per peer.
func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 4
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *timerHeap) pop() timer {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = timer{}
	s = s[:last]
	for i := 0; ; {
		m := i
		for c := 4*i + 1; c <= 4*i+4 && c < len(s); c++ {
			if s.less(c, m) {
				m = c
			}
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// arm asks to wake at `at` for the alarm a, identified by t's kind and
// target.
func (n *Node) arm(a *alarm, at time.Duration, t timer) {
	a.want = at
	if at < a.armed {
		a.armed = at
		t.at = at
		n.timerSeq++
		t.seq = n.timerSeq
		n.timers.push(t)
	}
}

// alarmOf finds the alarm a timer entry belongs to; nil when its target is
// gone.
func (n *Node) alarmOf(t *timer) *alarm {
	switch t.kind {
	case tBeacon:
		return &n.beaconAlarm
	case tReap:
		return &n.reapAlarm
	case tPeer:
		return &n.silenceAlarm
	case tFetch, tPushRetry:
		if t.peer.removed {
			return nil
		}
		if t.kind == tFetch {
			return &t.peer.fetchAlarm
		}
		return &t.peer.link.retryAlarm
	case tRepair:
		if t.in.removed {
			return nil
		}
		return &t.in.alarm
	case tHeartbeat, tWarning, tBlock, tPause:
		if t.sub.removed {
			return nil
		}
		switch t.kind {
		case tHeartbeat:
			return &t.sub.heartbeatAlarm
		case tWarning:
			return &t.sub.warnAlarm
		case tBlock:
			return &t.sub.blockAlarm
		}
		return &t.sub.pauseAlarm
	}
	return nil
}

// dueTimer pops the next entry whose alarm is due at or before now, or
// reports false. Stale entries are discarded; entries whose alarm moved
// later are re-armed.
func (n *Node) dueTimer(now time.Duration) (timer, bool) {
	for len(n.timers) > 0 && n.timers[0].at <= now {
		t := n.timers.pop()
		a := n.alarmOf(&t)
		if a == nil || a.armed != t.at {
			continue
		}
		a.armed = Never
		if a.want == Never {
			continue
		}
		if a.want > now {
			n.arm(a, a.want, t)
			continue
		}
		a.want = Never
		return t, true
	}
	return timer{}, false
}

// NextDeadline is the monotonic time at which the node next needs Tick,
// or Never. Calling Tick earlier is harmless.
func (n *Node) NextDeadline() time.Duration {
	for len(n.timers) > 0 {
		t := n.timers[0]
		a := n.alarmOf(&t)
		if a != nil && a.armed == t.at && a.want == t.at {
			return t.at
		}
		n.timers.pop()
		if a != nil && a.armed == t.at { // moved later or cancelled
			a.armed = Never
			if a.want != Never {
				n.arm(a, a.want, t)
			}
		}
	}
	return Never
}
