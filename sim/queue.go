package sim

import "time"

// The world's agenda: events ordered by (time, insertion), so events at
// the same instant run in the order they were scheduled, on every run.

type evKind uint8

const (
	evTick     evKind = iota + 1 // a node's NextDeadline came
	evBeacon                     // a multicast beacon reaches every listener
	evRequest                    // a call's request reaches its target
	evResponse                   // a call's answer reaches its caller
	evTimeout                    // a call's CallTimeout ran out
	evStep                       // hand a node an event (credit, local API calls)
	evAction                     // run a scheduled function (workload, faults)
)

type event struct {
	at   time.Duration
	seq  uint64
	kind evKind
	node *simNode
	gen  int // the node's incarnation the event is for
	call *call
	ev   any // state.Event for evStep/evResponse; beacon for evBeacon
	fn   func()
}

type agenda []event

func (q agenda) less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}

func (q *agenda) push(e event) {
	*q = append(*q, e)
	s := *q
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (q *agenda) pop() event {
	s := *q
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = event{}
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*q = s
	return top
}
