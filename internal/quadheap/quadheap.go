// Package quadheap is a min-heap of items ordered by (time, insertion
// number), so items due at the same instant come out in the order they
// went in, on every run. The protocol core's timers and the simulator's
// agenda stand on it; both must replay exactly, so ties never fall to
// chance.
//
// It is 4-ary: half the levels of a binary heap, and a node's four children
// share a cache line or two. It does no I/O and reads no clock: callers
// give every item its time and number.
package quadheap

import "time"

// Item is one entry: due At, the Seq-th pushed among those due then.
type Item[T any] struct {
	At  time.Duration
	Seq uint64
	V   T
}

// Heap is a slice kept in heap order by Push and Pop; h[0] is the next
// item due. The zero value is an empty heap.
type Heap[T any] []Item[T]

func (h Heap[T]) less(i, j int) bool {
	if h[i].At != h[j].At {
		return h[i].At < h[j].At
	}
	return h[i].Seq < h[j].Seq
}

// Push adds it.
func (h *Heap[T]) Push(it Item[T]) {
	*h = append(*h, it)
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

// Pop removes and returns the next item due. The heap must not be empty.
func (h *Heap[T]) Pop() Item[T] {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = Item[T]{} // let go of what V points to
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
