package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestTrackerReportsEveryHoleAndNeverDropsSilently: the sequence check
// passes the next number, reports a hole with what was expected and
// received, drops only a repeat of the very same message, reports a
// numbering that went back as a restart and follows it, and after a
// restart expects each topic to start at 1.
func TestTrackerReportsEveryHoleAndNeverDropsSilently(t *testing.T) {
	tr := newTracker(100)
	step := func(topic string, seq int64, id string) (*Gap, bool) { return tr.check(topic, seq, id) }
	if g, ok := step("a", 7, "m7"); g != nil || !ok {
		t.Fatalf("first message: %v %v", g, ok)
	}
	if g, ok := step("a", 8, "m8"); g != nil || !ok {
		t.Fatalf("next: %v %v", g, ok)
	}
	if g, ok := step("a", 8, "m8"); g != nil || ok {
		t.Fatalf("the same message again: %v %v, want dropped quietly", g, ok)
	}
	if g, ok := step("a", 12, "m12"); !ok || *g != (Gap{Topic: "a", Expected: 9, Received: 12, Missed: 3, Cause: GapSequence}) {
		t.Fatalf("hole: %+v %v", g, ok)
	}
	if g, ok := step("a", 3, "new3"); !ok || *g != (Gap{Topic: "a", Expected: 13, Received: 3, Missed: -1, Cause: GapRestart}) {
		t.Fatalf("numbering went back: %+v %v", g, ok)
	}
	if g, ok := step("a", 4, "new4"); g != nil || !ok {
		t.Fatalf("after the restart: %v %v", g, ok)
	}
	if g, ok := step("b", 0, "v1"); g != nil || !ok {
		t.Fatalf("unnumbered: %v %v", g, ok)
	}
	step("b", 5, "b5")
	gaps := tr.restart()
	want := []Gap{{Topic: "a", Expected: 5, Missed: -1, Cause: GapRestart}, {Topic: "b", Expected: 6, Missed: -1, Cause: GapRestart}}
	if fmt.Sprint(gaps) != fmt.Sprint(want) {
		t.Fatalf("restart gaps %+v, want %+v", gaps, want)
	}
	if g, _ := step("a", 1, "r1"); g != nil {
		t.Fatalf("first message of the new run: %+v", g)
	}
	if g, _ := step("b", 2, "r2"); g == nil || g.Expected != 1 || g.Received != 2 {
		t.Fatalf("hole in the new run: %+v", g)
	}
	if last := tr.snapshot(); last["a"] != 1 || last["b"] != 2 {
		t.Fatalf("snapshot %v", last)
	}
}

// TestTrackerIsBounded: past its limit the tracker forgets the least
// recently seen topic.
func TestTrackerIsBounded(t *testing.T) {
	tr := newTracker(3)
	for i, topic := range []string{"a", "b", "c", "a", "d"} {
		tr.check(topic, int64(i+1), topic)
	}
	last := tr.snapshot()
	if len(last) != 3 || last["b"] != 0 || last["a"] != 4 || last["d"] != 5 {
		t.Fatalf("tracked %v, want a, c and d (b was least recently seen)", last)
	}
}

// TestBackoffGrowsToItsCapWithinJitter: each retry waits
// Initial*Multiplier^n, capped at Max, within ±Jitter.
func TestBackoffGrowsToItsCapWithinJitter(t *testing.T) {
	b := DefaultBackoff()
	for n, base := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		for range 50 {
			if d := b.Delay(n); d < base*9/10 || d > base*11/10 {
				t.Fatalf("retry %d waits %s, want %s ±10%%", n, d, base)
			}
		}
	}
	if d := b.Delay(40); d < 27*time.Second || d > 33*time.Second {
		t.Fatalf("retry 40 waits %s, want 30s ±10%%", d)
	}
	for _, bad := range []Backoff{{}, {Initial: time.Second, Max: time.Millisecond, Multiplier: 2}, {Initial: 1, Max: 2, Multiplier: 0.5},
		{Initial: 1, Max: 2, Multiplier: 2, Jitter: 2}, {Initial: 1, Max: 2, Multiplier: 2, MaxRetries: -1}} {
		if bad.validate() == nil {
			t.Errorf("backoff %+v accepted", bad)
		}
	}
	if _, err := Dial(context.Background(), "127.0.0.1:1", WithBackoff(Backoff{})); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("dial with a zero backoff: %v", err)
	}
}

// TestErrorKindsFollowTheCodes: each gRPC code maps to its kind; the
// status stays reachable; a topic refusal is also an invalid argument.
func TestErrorKindsFollowTheCodes(t *testing.T) {
	for _, c := range []struct {
		err  error
		kind error
	}{
		{status.Error(codes.InvalidArgument, `topic "a/+": wildcards (+ and #) are only allowed in subscriptions`), ErrInvalidTopic},
		{status.Error(codes.InvalidArgument, "payload is 9 bytes: the limit is 8 (--max-payload)"), ErrInvalidArgument},
		{status.Error(codes.NotFound, "subscription x is unknown"), ErrNotFound},
		{status.Error(codes.Unavailable, "nexusd is shutting down"), ErrUnavailable},
		{status.Error(codes.ResourceExhausted, "limit"), ErrLimit},
		{status.Error(codes.Unauthenticated, "token"), ErrUnauthenticated},
		{io.ErrUnexpectedEOF, ErrUnavailable},
	} {
		err := wrapErr("op", c.err)
		var e *Error
		if !errors.Is(err, c.kind) || !errors.As(err, &e) || e.Op != "op" {
			t.Errorf("%v: %v, want kind %v", c.err, err, c.kind)
		}
		if st, ok := status.FromError(c.err); ok && status.Code(err) != st.Code() {
			t.Errorf("%v: code %s, want %s", c.err, status.Code(err), st.Code())
		}
	}
	topic := wrapErr("publish", status.Error(codes.InvalidArgument, `topic "a/+": wildcards`))
	if !errors.Is(topic, ErrInvalidArgument) || topic.Error() != `nexusd: publish: invalid topic: topic "a/+": wildcards` {
		t.Errorf("topic error %q", topic)
	}
	if err := wrapErr("sub", status.Error(codes.DeadlineExceeded, "late")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
	if retryable(status.Error(codes.InvalidArgument, "x")) || !retryable(status.Error(codes.Unavailable, "x")) || !retryable(io.EOF) {
		t.Error("retryable: refusals must not be retried, transport ends must")
	}
}

// TestHandlersRunInOrderAndMayCallBack: handlers run one at a time in
// posting order, on a goroutine of their own, and still run when posted
// before close.
func TestHandlersRunInOrderAndMayCallBack(t *testing.T) {
	d := newDispatcher()
	got := make(chan int, 100)
	for i := range 100 {
		d.post(func() { got <- i })
	}
	d.close()
	<-d.done
	close(got)
	want := 0
	for i := range got {
		if i != want {
			t.Fatalf("handler %d ran as %d", i, want)
		}
		want++
	}
	if want != 100 {
		t.Fatalf("%d of 100 handlers ran", want)
	}
	d.post(func() { t.Error("a handler posted after close ran") })
}
