package pushstream

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func item(call uint64) Item[string] {
	return Item[string]{Call: call, ID: fmt.Sprintf("m%d", call), Bytes: 10, V: fmt.Sprintf("v%d", call)}
}

func calls[T any](items []Item[T]) []uint64 {
	var out []uint64
	for _, it := range items {
		out = append(out, it.Call)
	}
	return out
}

func doneCalls[T any](done []Done[T]) string {
	s := ""
	for _, d := range done {
		if s != "" {
			s += " "
		}
		s += fmt.Sprint(d.Call)
		if d.Err != nil {
			s += "!"
		}
	}
	return s
}

// A batch is whatever has accumulated, up to the message and byte limits;
// one item too big for the byte limit still goes alone.
func TestBatchesTakeWhatHasAccumulatedWithinLimits(t *testing.T) {
	var s Sender[string]
	if b := s.Next(0, Limits{Messages: 10, Bytes: 100}); b != nil {
		t.Fatal("a batch with no stream open")
	}
	s.Open()
	for c := uint64(1); c <= 5; c++ {
		s.Queue(item(c))
	}
	big := item(6)
	big.Bytes = 1000
	s.Queue(big)
	lim := Limits{Messages: 3, Bytes: 25}
	for _, want := range []string{"[1 2]", "[3 4]", "[5]", "[6]", "[]"} {
		if got := fmt.Sprint(calls(s.Next(0, lim))); got != want {
			t.Fatalf("batch %s, want %s", got, want)
		}
	}
	if s.InFlight() != 6 || s.Queued() != 0 {
		t.Fatalf("in flight %d, queued %d", s.InFlight(), s.Queued())
	}
}

// Answers count cumulatively; a refusal is final unless it asks for a
// retry; an answer on a broken stream completes nothing.
func TestCumulativeAnswersCompleteInOrder(t *testing.T) {
	var s Sender[string]
	st, _ := s.Open()
	for c := uint64(1); c <= 4; c++ {
		s.Queue(item(c))
	}
	s.Next(0, Limits{Messages: 2, Bytes: 100})
	s.Next(0, Limits{Messages: 2, Bytes: 100})
	done, err := s.Ack(st, 1, nil)
	if err != nil || doneCalls(done) != "1" {
		t.Fatalf("first answer completed %q (%v)", doneCalls(done), err)
	}
	done, err = s.Ack(st, 4, []Refusal{{ID: "m2", Reason: "bad topic"}, {ID: "m4", Retry: true, Reason: "hold full"}})
	if err != nil || doneCalls(done) != "2 3 4!" || !errors.Is(done[2].Err, ErrRetry) {
		t.Fatalf("second answer completed %q (%v)", doneCalls(done), err)
	}
	if _, err := s.Ack(st, 3, nil); err == nil {
		t.Fatal("a count going back was taken")
	}
	if _, err := s.Ack(st, 9, nil); err == nil {
		t.Fatal("a count beyond what was sent was taken")
	}
	if _, err := s.Ack(st, 4, []Refusal{{ID: "m9"}}); err == nil {
		t.Fatal("a refusal of a message the answer does not cover was taken")
	}
	if done, _ := s.Ack(st+1, 4, nil); done != nil {
		t.Fatal("an answer on another stream completed something")
	}
}

// A break fails everything not answered, then everything queued, oldest
// first, whatever order batches went out in; the next stream starts over.
func TestBreakFailsUnansweredThenQueuedOldestFirst(t *testing.T) {
	var s Sender[string]
	st, _ := s.Open()
	for c := uint64(1); c <= 6; c++ {
		s.Queue(item(c))
	}
	s.Next(0, Limits{Messages: 2, Bytes: 100})
	s.Next(0, Limits{Messages: 2, Bytes: 100})
	s.Ack(st, 1, nil)
	failed := s.Break(st)
	if got := fmt.Sprint(calls(failed)); got != "[2 3 4 5 6]" {
		t.Fatalf("break failed %s, want [2 3 4 5 6]", got)
	}
	if s.Break(st) != nil || s.Stream() != 0 {
		t.Fatal("a second break of the same stream failed something")
	}
	if done, _ := s.Ack(st, 4, nil); done != nil {
		t.Fatal("a late answer on the broken stream completed something")
	}
	s.Queue(item(7))
	next, _ := s.Open()
	if next == st {
		t.Fatal("the new stream has the old one's number")
	}
	if b := s.Next(time.Second, Limits{Messages: 9, Bytes: 100}); fmt.Sprint(calls(b)) != "[7]" {
		t.Fatalf("new stream sent %v", calls(b))
	}
	if done, err := s.Ack(next, 1, nil); err != nil || doneCalls(done) != "7" {
		t.Fatalf("new stream's count starts over: %q %v", doneCalls(done), err)
	}
}

// A stream is overdue once its oldest unanswered batch has waited longer
// than the timeout.
func TestOverdueCountsFromTheOldestUnansweredBatch(t *testing.T) {
	var s Sender[string]
	st, _ := s.Open()
	if late, due := s.Overdue(time.Hour, time.Second); late || due != 0 {
		t.Fatal("overdue with nothing sent")
	}
	s.Queue(item(1))
	s.Next(1*time.Second, Limits{Messages: 1, Bytes: 100})
	s.Queue(item(2))
	s.Next(2*time.Second, Limits{Messages: 1, Bytes: 100})
	if late, due := s.Overdue(2*time.Second, time.Second); late || due != 2*time.Second {
		t.Fatalf("late %v due %s, want due at 2s", late, due)
	}
	if late, _ := s.Overdue(2*time.Second+1, time.Second); !late {
		t.Fatal("not overdue past the oldest batch's deadline")
	}
	s.Ack(st, 1, nil)
	if late, due := s.Overdue(2*time.Second+1, time.Second); late || due != 3*time.Second {
		t.Fatalf("after the first answer: late %v due %s, want due at 3s", late, due)
	}
}

// A sender that hands NextInto and AckInto the slices of its last batch
// and answer gets the next ones in the same arrays, with what Next and Ack
// would give, refusals included.
func TestBatchesAndAnswersReuseTheCallersArrays(t *testing.T) {
	var s Sender[string]
	st, _ := s.Open()
	batch := make([]Item[string], 0, 8)
	done := make([]Done[string], 0, 8)
	lim := Limits{Messages: 3, Bytes: 100}
	var sent uint64
	for round := range 4 {
		for c := range uint64(3) {
			s.Queue(item(uint64(round)*3 + c + 1))
		}
		b := s.NextInto(batch, 0, lim)
		if len(b) != 3 || &b[0] != &batch[:1][0] || fmt.Sprint(calls(b)) != fmt.Sprint([]uint64{sent + 1, sent + 2, sent + 3}) {
			t.Fatalf("round %d: batch %v, in the caller's array: %v", round, calls(b), &b[0] == &batch[:1][0])
		}
		batch = b
		sent += 3
		d, err := s.AckInto(done, st, sent, []Refusal{{ID: fmt.Sprintf("m%d", sent), Retry: true, Reason: "later"}})
		if err != nil || len(d) != 3 || &d[0] != &done[:1][0] || doneCalls(d) != fmt.Sprintf("%d %d %d!", sent-2, sent-1, sent) {
			t.Fatalf("round %d: answer %q (%v), in the caller's array: %v", round, doneCalls(d), err, len(d) > 0 && &d[0] == &done[:1][0])
		}
		done = d
	}
}

// A push queued without an id is matched to a refusal through IDOf, which
// a caller whose ids cost a rendering sets; it is asked only when an
// answer refuses.
func TestRefusalsMatchPushesQueuedWithoutIDs(t *testing.T) {
	asked := 0
	s := Sender[string]{IDOf: func(v *string) string { asked++; return "id-" + *v }}
	s.Open()
	for c := uint64(1); c <= 3; c++ {
		s.Queue(Item[string]{Call: c, Bytes: 1, V: fmt.Sprint(c)})
	}
	s.Next(0, DefaultLimits)
	done, err := s.Ack(s.Stream(), 2, nil)
	if err != nil || doneCalls(done) != "1 2" || asked != 0 {
		t.Fatalf("plain answer: %q, %v, ids asked %d times; want 1 2 and no ids asked", doneCalls(done), err, asked)
	}
	done, err = s.Ack(s.Stream(), 3, []Refusal{{ID: "id-3", Retry: true}})
	if err != nil || doneCalls(done) != "3!" {
		t.Fatalf("refusal: %q, %v; want 3 refused for now", doneCalls(done), err)
	}
}

// AckCalls completes what Ack with no refusal would, giving only calls:
// the same pushes in the same order, the same errors for impossible
// counts, nothing on another stream, and the deadline moved on alike.
func TestAckCallsIsAckWithoutRefusals(t *testing.T) {
	var a, b Sender[string]
	sa, _ := a.Open()
	sb, _ := b.Open()
	for c := uint64(1); c <= 7; c++ {
		a.Queue(item(c))
		b.Queue(item(c))
	}
	for _, at := range []time.Duration{1, 2, 3} {
		a.Next(at, Limits{Messages: 3, Bytes: 100})
		b.Next(at, Limits{Messages: 3, Bytes: 100})
	}
	for _, count := range []uint64{2, 2, 5, 4, 9, 7} {
		done, errA := a.Ack(sa, count, nil)
		got, errB := b.AckCalls(sb, count)
		want := ""
		for _, d := range done {
			want += fmt.Sprint(d.Call, " ")
		}
		have := ""
		for _, c := range got {
			have += fmt.Sprint(c, " ")
		}
		if have != want || (errA == nil) != (errB == nil) {
			t.Fatalf("count %d: AckCalls gave %q (%v), Ack %q (%v)", count, have, errB, want, errA)
		}
		lateA, dueA := a.Overdue(10, 5)
		lateB, dueB := b.Overdue(10, 5)
		if a.InFlight() != b.InFlight() || lateA != lateB || dueA != dueB {
			t.Fatalf("count %d: in flight %d / %d, overdue %v %v / %v %v", count, a.InFlight(), b.InFlight(), lateA, dueA, lateB, dueB)
		}
	}
	if got, err := b.AckCalls(sb+1, 7); len(got) != 0 || err != nil {
		t.Fatalf("an answer on another stream completed %v (%v)", got, err)
	}
}
