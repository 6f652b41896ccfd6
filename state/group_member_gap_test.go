package state

import (
	"slices"
	"testing"
	"time"
)

// A mesh loss moves a group member's own numbering on by as many numbers
// as were lost, but by at most maxGapNumbers, whatever number a faulty
// peer sends: as it does for a topic's numbering.
func TestAHugeMeshLossMovesAGroupMembersNumberingByAtMostMaxGapNumbers(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2")
	h.groupMember(1, "w", "t")
	first := h.envFrom("n2", "t", 1)
	first.Edit().QueueGroups = []string{"w"}
	h.pushFrom("n2", first)
	after := h.envFrom("n2", "t", huge+1) // follows huge, which never arrives
	after.Edit().QueueGroups = []string{"w"}
	h.pushFrom("n2", after)
	for i := 0; i < 100 && len(seqsOf(h.all, 1)) < 2; i++ {
		for _, r := range of[*RequestResend](h.advance(100 * time.Millisecond)) {
			if r.From == r.To && r.From > 1<<40 { // asked to vouch for the number: it was issued
				h.step(&ResendCompleted{Call: r.Call, Reply: &ResendReply{Instance: "n2", Latest: huge + 1}})
			} else {
				h.step(&ResendCompleted{Call: r.Call, Err: errTest})
			}
		}
	}
	if got, want := seqsOf(h.all, 1), []uint64{1, 1 + maxGapNumbers + 1}; !slices.Equal(got, want) {
		t.Fatalf("the member was numbered %v, want %v", got, want)
	}
}
