package netshell

import (
	"errors"
	"testing"

	"github.com/nexusd/nexusd/state"
)

// A publish stream settles runs of answers with single ones: its
// accepted count moves over a run as over its answers one by one, and a
// failure is reported at its position.
func TestPublishStreamSettlesRunsOfAnswers(t *testing.T) {
	ps := &publishStream{wake: make(chan struct{}, 1)}
	ps.add(10, 4, 100, &state.PublishedBatch{}, nil, nil) // positions 0-3
	ps.add(20, 3, 100, &state.PublishedBatch{}, nil, nil) // positions 4-6
	ps.answerRun(21, 2)
	var failed []uint64
	fail := func(i uint64, _ error) { failed = append(failed, i) }
	_, st := ps.settle(nil, fail)
	if st.accepted != 0 || st.moved {
		t.Fatalf("a run in the second batch alone settled %+v", st)
	}
	ps.answerRun(10, 4)
	ps.answerPublishes([]state.CompletePublish{{Req: 20, Err: errors.New("refused")}})
	_, st = ps.settle(nil, fail)
	if st.accepted != 7 || !st.moved || st.freed != 200 {
		t.Fatalf("settled %+v, want all 7 accepted and both batches freed", st)
	}
	if len(failed) != 1 || failed[0] != 4 {
		t.Fatalf("failures at %v, want position 4", failed)
	}
}
