package netshell

import (
	"context"
	"testing"

	"github.com/nexusd/nexusd/state"
)

// A peer's answer frees room in its push window: the loop steps a
// transport completion ahead of the requests already queued, as it steps
// credit.
func TestATransportCompletionIsSteppedAheadOfQueuedRequests(t *testing.T) {
	h := newLoopHarness(t)
	busy, free := make(chan struct{}), make(chan struct{})
	if err := h.l.post(context.Background(), input{fn: func(*loop) { close(busy); <-free }}); err != nil {
		t.Fatal(err)
	}
	<-busy            // the loop is stepping; what comes next queues
	var seen []uint64 // unknown calls the node had refused when each request ran
	request := input{fn: func(l *loop) { seen = append(seen, l.node.Status().Counters.Rejected["unknown_call"]) }}
	for range 3 {
		if err := h.l.post(context.Background(), request); err != nil {
			t.Fatal(err)
		}
	}
	// Two completions of calls the node never made: each is refused, and
	// counted, when it is stepped.
	h.l.complete(&state.PushesCompleted{Calls: []uint64{999}})
	h.l.complete(&state.PushCompleted{Call: 999})
	close(free)
	h.barrier()
	if len(seen) != 3 || seen[0] != 2 {
		t.Fatalf("unknown calls refused when each queued request ran: %v; want both completions stepped before the first", seen)
	}
}
