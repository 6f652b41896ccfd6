package state

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// pushLines lists pushes as "payload#number<-predecessor".
func pushLines(effs []Effect) []string {
	var out []string
	for _, p := range of[*Push](effs) {
		out = append(out, fmt.Sprintf("%s#%d<-%d", p.Msg.Payload, p.Msg.SourceSeq, p.Prev))
	}
	return out
}

// leaveAndReturn has peer id leave, waits out the hold on a peer that
// left, and returns what its beacon back is pushed.
func (h *harness) leaveAndReturn(id string, patterns ...string) []string {
	h.t.Helper()
	h.leaves(id)
	h.advance(6 * time.Second)
	return pushLines(h.beacon(id, id+":5671", TopicStateHash(patterns)))
}

// What a peer was owed when it died (a push that failed and waits to go
// again, another still in flight) is pushed on its return in the order
// first issued, not the failed one after the one in flight.
func TestWhatADeadPeerWasOwedGoesOnItsReturnInTheOrderFirstIssued(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.PushWindow = 2 })
	h.start()
	h.sync("n2", "a")
	p1 := only[*Push](t, h.publish("a", "m1"))
	only[*Push](t, h.publish("a", "m2"))
	h.step(&PushCompleted{Call: p1.Call, Err: errTest}) // m1 waits to go again; m2 still in flight
	if got := fmt.Sprint(h.leaveAndReturn("n2", "a")); got != "[m1#1<-0 m2#2<-1]" {
		t.Fatalf("on return pushed %s, want [m1#1<-0 m2#2<-1]", got)
	}
}

// A link's byte cap lets older waiting pushes go, never the last one: a
// message alone larger than PeerBacklogBytes waits for the window and
// goes when it opens.
func TestAMessageLargerThanPeerBacklogBytesStillWaitsForTheLink(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.PushWindow = 1; c.PeerBacklogBytes = 1 << 10 })
	h.start()
	h.sync("n2", "a")
	p1 := only[*Push](t, h.publish("a", "small"))
	big := strings.Repeat("x", 4<<10)
	if n := len(of[*Push](h.publish("a", big))); n != 0 {
		t.Fatalf("%d pushes with the window full", n)
	}
	p2 := of[*Push](h.step(&PushCompleted{Call: p1.Call}))
	if len(p2) != 1 || string(p2[0].Msg.Payload) != big {
		t.Fatalf("the window open again pushed %d messages, want the 4 KiB one", len(p2))
	}
	if d := h.n.Status().Counters.BacklogDropped; d != 0 {
		t.Fatalf("BacklogDropped %d, want 0", d)
	}
}

// A push answered while the link rests after a failure does not end the
// backoff: the next failure waits twice PushRetryDelay, as if the answer
// had not come.
func TestAnAnswerWhileTheLinkRestsDoesNotResetTheBackoff(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.PushWindow = 2 })
	h.start()
	h.sync("n2", "a")
	delay := h.n.Config().PushRetryDelay
	p1 := only[*Push](t, h.publish("a", "m1"))
	p2 := only[*Push](t, h.publish("a", "m2"))
	h.step(&PushCompleted{Call: p1.Call, Err: errTest}) // rests PushRetryDelay
	h.step(&PushCompleted{Call: p2.Call})               // answered while resting
	again := only[*Push](t, h.advance(delay))
	h.step(&PushCompleted{Call: again.Call, Err: errTest}) // the second failure in a row
	if got := pushLines(h.advance(2*delay - 1)); len(got) != 0 {
		t.Fatalf("pushed %v before twice PushRetryDelay", got)
	}
	if got := fmt.Sprint(pushLines(h.advance(1))); got != "[m1#1<-0]" {
		t.Fatalf("after twice PushRetryDelay pushed %s, want [m1#1<-0]", got)
	}
}
