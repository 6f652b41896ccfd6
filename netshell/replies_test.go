package netshell

import (
	"testing"

	"github.com/nexusd/nexusd/state"
)

// namedReplier is a replier told apart by its name.
type namedReplier string

func (namedReplier) answer(state.Effect) {}

// bitsOf is a step's answered bits with the given requests (offsets)
// answered.
func bitsOf(n int, answered ...int) []uint64 {
	b := make([]uint64, (n+63)/64)
	for _, i := range answered {
		b[i/64] |= 1 << (i % 64)
	}
	return b
}

// Requests a step left unanswered are found by id whichever order their
// steps were filed in and their answers come in; each is given out once,
// an answered one or one never filed is nobody's, and spans answered
// whole are let go.
func TestWaitingRepliesFindEachRequestsReplierOnce(t *testing.T) {
	var w waitingReplies
	// Three steps: 100-199 (two answered in the step), 300 alone, and
	// 200-299 stepped after 300 though its ids are lower.
	w.file(100, 100, 98, namedReplier("a"), bitsOf(100, 0, 70))
	w.file(300, 1, 1, namedReplier("c"), bitsOf(1))
	w.file(200, 100, 100, namedReplier("b"), bitsOf(100))
	if w.len() != 199 {
		t.Fatalf("len %d, want 199", w.len())
	}
	for _, req := range []uint64{99, 100, 170, 301, 0, 1 << 40} {
		if r := w.take(req); r != nil {
			t.Errorf("take(%d) = %v, want nobody's (answered in its step, or never filed)", req, r)
		}
	}
	if r := w.take(300); r != namedReplier("c") {
		t.Errorf("take(300) = %v, want c", r)
	}
	if r := w.take(300); r != nil {
		t.Errorf("take(300) again = %v, want nil", r)
	}
	if r := w.take(250); r != namedReplier("b") {
		t.Errorf("take(250) = %v, want b", r)
	}
	for req := uint64(260); req < 300; req++ {
		if r := w.take(req); r != namedReplier("b") {
			t.Fatalf("take(%d) = %v, want b", req, r)
		}
	}
	if w.len() != 199-1-1-40 {
		t.Fatalf("len %d after 42 answers, want %d", w.len(), 199-42)
	}
	for req := uint64(101); req < 200; req++ {
		if req == 170 {
			continue
		}
		if r := w.take(req); r != namedReplier("a") {
			t.Fatalf("take(%d) = %v, want a", req, r)
		}
	}
	for req := uint64(200); req < 260; req++ {
		want := replier(namedReplier("b"))
		if req == 250 {
			want = nil
		}
		if r := w.take(req); r != want {
			t.Fatalf("take(%d) = %v, want %v", req, r, want)
		}
	}
	if w.len() != 0 || len(w.spans) != 0 || w.head != 0 {
		t.Fatalf("all answered: len %d, %d spans from %d; want none", w.len(), len(w.spans), w.head)
	}
}

// Many steps held at once, answered oldest first, as a slow subscriber's
// block policy lets them go: the spans answered are let go as they are,
// the live ones move to the front, and their bit sets are used again.
func TestWaitingRepliesLetGoWhatIsAnswered(t *testing.T) {
	var w waitingReplies
	next := uint64(1)
	filed := 0
	for round := 0; round < 50; round++ {
		for range 10 {
			w.file(next, 8, 8, namedReplier("p"), bitsOf(8))
			next += 8
			filed += 8
		}
		for range 60 { // answer 60 of the 80 filed this round, oldest first
			first := w.spans[w.head].first
			i := uint64(0)
			for w.spans[w.head].answered[0]&(1<<i) != 0 {
				i++
			}
			if r := w.take(first + i); r != namedReplier("p") {
				t.Fatalf("round %d: take(%d) = %v", round, first+i, r)
			}
			filed--
		}
		if w.len() != filed {
			t.Fatalf("round %d: len %d, want %d", round, w.len(), filed)
		}
		if live := len(w.spans) - w.head; live > filed/8+1 {
			t.Fatalf("round %d: %d spans live for %d requests", round, live, filed)
		}
	}
	if len(w.spans) > 2*(filed/8+1)+64 {
		t.Errorf("%d spans kept for %d live", len(w.spans), len(w.spans)-w.head)
	}
	if len(w.spare) == 0 || len(w.spare) > maxSpareReplySets {
		t.Errorf("%d bit sets kept to use again, want some, at most %d", len(w.spare), maxSpareReplySets)
	}
}
