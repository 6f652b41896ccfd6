package state

import "testing"

// Numbers a source's chain says it did not send this node (between a
// push's prev and its own number) are passed over, and counted by why in
// Counters.Passed: the operator's view of what was skipped as never ours,
// apart from what was lost.
func TestNumbersNotSentToUsAreCountedAsPassedOver(t *testing.T) {
	h := repairHarness(t)
	checkLog(t, h.pushSeqs(1), 1, "msg t#1 m1")
	env := h.envFrom("n2", "t", 4)
	env.PrevSeq = 1 // 2 and 3 went to other nodes
	checkLog(t, h.pushFrom("n2", env), 1, "msg t#2 m4")
	c := h.n.Status().Counters
	if c.Passed[gapNotSent] != 2 || c.Gaps != 0 {
		t.Fatalf("Passed[not_sent]=%d Gaps=%d, want 2, 0", c.Passed[gapNotSent], c.Gaps)
	}
}
