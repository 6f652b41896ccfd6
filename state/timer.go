package state

import (
	"time"

	"github.com/nexusd/nexusd/internal/quadheap"
)

// Timers: one min-heap of deadlines (internal/quadheap), ordered by (time,
// insertion), so equal deadlines fire in the order they were set on every
// run.
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

// timer names what a heap entry is for; its time and number are the
// entry's.
type timer struct {
	kind timerKind
	peer *peer
	sub  *subscription
	in   *inStream
}

// arm asks to wake at `at` for the alarm a, identified by t's kind and
// target.
func (n *Node) arm(a *alarm, at time.Duration, t timer) {
	a.want = at
	if at < a.armed {
		a.armed = at
		n.timerSeq++
		n.timers.Push(quadheap.Item[timer]{At: at, Seq: n.timerSeq, V: t})
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
func (n *Node) dueTimer(now time.Duration) (quadheap.Item[timer], bool) {
	for len(n.timers) > 0 && n.timers[0].At <= now {
		it := n.timers.Pop()
		t := &it.V
		a := n.alarmOf(t)
		if a == nil || a.armed != it.At {
			continue
		}
		a.armed = Never
		if a.want == Never {
			continue
		}
		if a.want > now {
			n.arm(a, a.want, *t)
			continue
		}
		a.want = Never
		return it, true
	}
	return quadheap.Item[timer]{}, false
}

// NextDeadline is the monotonic time at which the node next needs Tick,
// or Never. Calling Tick earlier is harmless.
func (n *Node) NextDeadline() time.Duration {
	for len(n.timers) > 0 {
		it := n.timers[0]
		a := n.alarmOf(&it.V)
		if a != nil && a.armed == it.At && a.want == it.At {
			return it.At
		}
		n.timers.Pop()
		if a != nil && a.armed == it.At { // moved later or cancelled
			a.armed = Never
			if a.want != Never {
				n.arm(a, a.want, it.V)
			}
		}
	}
	return Never
}
