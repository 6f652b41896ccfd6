package state

import (
	"fmt"
	"slices"
	"testing"
)

// Failed pushes go out again in the order they were first issued, whatever
// order their failures arrive in (a stream that breaks fails them all; a
// transport may report them oldest or newest first), ahead of what never
// went out.
func TestFailedPushesGoAgainInTheOrderFirstIssued(t *testing.T) {
	for _, order := range []string{"oldest first", "newest first", "interleaved"} {
		t.Run(order, func(t *testing.T) {
			h := newHarness(t, "n1", func(c *Config) { c.PushWindow = 4 })
			h.start()
			h.sync("n2", "a")
			var pushes []*Push
			for i := range 6 {
				pushes = append(pushes, of[*Push](h.publish("a", fmt.Sprint("m", i)))...)
			}
			if len(pushes) != 4 {
				t.Fatalf("%d pushes with a window of 4", len(pushes))
			}
			fail := slices.Clone(pushes)
			switch order {
			case "newest first":
				slices.Reverse(fail)
			case "interleaved":
				fail = []*Push{pushes[2], pushes[0], pushes[3], pushes[1]}
			}
			for _, p := range fail {
				h.step(&PushCompleted{Call: p.Call, Err: errTest})
			}
			var again, next []string
			for _, p := range of[*Push](h.advance(h.n.Config().PushRetryDelay)) {
				again = append(again, string(p.Msg.Payload))
				for _, q := range of[*Push](h.step(&PushCompleted{Call: p.Call})) {
					next = append(next, string(q.Msg.Payload))
				}
			}
			if got := fmt.Sprint(again, next); got != "[m0 m1 m2 m3] [m4 m5]" {
				t.Fatalf("pushed again %s, want [m0 m1 m2 m3] [m4 m5]: the failed ones in order, then the rest", got)
			}
		})
	}
}

// A link to a live peer keeps six full push batches in flight by default
// (Config.PushWindow): with four, the two daemons of a cross-node run each
// idled about a third of the time, the sender waiting for answers and the
// receiver for pushes (BENCHMARKS.md, "Since the run of 12:03"). The rest
// wait in the backlog, and each answer lets as many more go.
func TestADefaultLinkKeepsSixFullBatchesInFlight(t *testing.T) {
	const batch = 1024 // a full push batch (internal/pushstream.DefaultLimits)
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	var pushes []*Push
	for i := range 7*batch + 1 {
		pushes = append(pushes, of[*Push](h.publish("a", fmt.Sprint("m", i)))...)
	}
	if len(pushes) != 6*batch {
		t.Fatalf("%d pushes in flight, want %d: six full batches", len(pushes), 6*batch)
	}
	calls := make([]uint64, batch)
	for i := range calls {
		calls[i] = pushes[i].Call
	}
	more := of[*Push](h.step(&PushesCompleted{Calls: calls}))
	if len(more) != batch || string(more[0].Msg.Payload) != fmt.Sprint("m", 6*batch) {
		t.Fatalf("an answered batch let %d pushes go, want %d from m%d", len(more), batch, 6*batch)
	}
}
