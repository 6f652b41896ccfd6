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

// push and pop keep a 4-ary heap: fewer levels, neighbouring children.
func (q *agenda) push(e event) {
	*q = append(*q, e)
	s := *q
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 4
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
	*q = s
	return top
}
