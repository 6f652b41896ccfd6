package netshell

import "slices"

// waitingReplies files who waits for the answers a step left for later
// (publishes held by the block policy, a push held behind a hole): one
// span of consecutive request ids per step, as the step took them, with a
// bit per request answered. A frame's publishes held together cost one
// span, not an entry each.
//
// Request ids ascend in the order events are posted; steps may take them
// in another order (two publishers' frames), so a span is inserted in id
// order, nearly always at the end. Answers mostly come in id order too: a
// span fully answered is let go once it is the first, and one in the
// middle waits for that, as the link's sent pushes do (state/link.go).
type waitingReplies struct {
	spans []replySpan // ascending, disjoint; spans[head:] are live
	head  int
	count int        // requests waiting, in all spans
	spare [][]uint64 // bit sets of spans let go, for new ones
}

// maxSpareReplySets bounds the bit sets kept for new spans.
const maxSpareReplySets = 64

type replySpan struct {
	first    uint64
	n        uint64
	left     int // requests of the span not answered yet
	r        replier
	answered []uint64 // bit i: first+i answered
}

// len is how many requests wait for an answer.
func (w *waitingReplies) len() int { return w.count }

// file records that r waits for the answers of the n requests from first
// whose bits in answered are clear, left of them.
func (w *waitingReplies) file(first, n uint64, left int, r replier, answered []uint64) {
	var bits []uint64
	if k := len(w.spare); k > 0 {
		bits, w.spare = w.spare[k-1][:0], w.spare[:k-1]
	}
	bits = append(bits, answered...)
	s := replySpan{first: first, n: n, left: left, r: r, answered: bits}
	w.count += left
	live := w.spans[w.head:]
	if len(live) == 0 || live[len(live)-1].first < first {
		w.spans = append(w.spans, s)
		return
	}
	i, _ := slices.BinarySearchFunc(live, first, func(s replySpan, first uint64) int {
		switch {
		case s.first < first:
			return -1
		case s.first > first:
			return 1
		}
		return 0
	})
	w.spans = slices.Insert(w.spans, w.head+i, s)
}

// find returns the live span holding req, or nil.
func (w *waitingReplies) find(req uint64) *replySpan {
	live := w.spans[w.head:]
	if len(live) > 0 && req-live[0].first < live[0].n { // the usual case: the oldest
		return &live[0]
	}
	i, _ := slices.BinarySearchFunc(live, req, func(s replySpan, req uint64) int {
		if s.first+s.n <= req {
			return -1
		}
		if s.first > req {
			return 1
		}
		return 0
	})
	if i < len(live) && req-live[i].first < live[i].n {
		return &live[i]
	}
	return nil
}

// take finds who waits for req's answer and forgets it: nil when no one
// does (never filed, or answered already).
func (w *waitingReplies) take(req uint64) replier {
	s := w.find(req)
	if s == nil {
		return nil
	}
	i := req - s.first
	if s.answered[i/64]&(1<<(i%64)) != 0 {
		return nil
	}
	s.answered[i/64] |= 1 << (i % 64)
	r := s.r
	w.answered(s, 1)
	return r
}

// answered counts k more of s's requests answered, and lets go the
// spans at the front that have none left.
func (w *waitingReplies) answered(s *replySpan, k int) {
	s.left -= k
	w.count -= k
	for w.head < len(w.spans) && w.spans[w.head].left == 0 {
		done := &w.spans[w.head]
		if len(w.spare) < maxSpareReplySets {
			w.spare = append(w.spare, done.answered)
		}
		*done = replySpan{}
		w.head++
	}
	switch {
	case w.head == len(w.spans):
		w.spans, w.head = w.spans[:0], 0
	case w.head > 64 && w.head > len(w.spans)/2:
		n := copy(w.spans, w.spans[w.head:])
		clear(w.spans[n:])
		w.spans, w.head = w.spans[:n], 0
	}
}
