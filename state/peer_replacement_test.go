package state

import (
	"testing"
)

// When a new instance takes over a known peer's address, the old
// instance's pushes still owed are dropped for good, and counted as
// dropped: the restarted process is not sent them, and they are not kept
// for the old one's return.
func TestARestartedPeersUnsentPushesAreCountedAsDropped(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("old", "a")
	for _, p := range []string{"x", "y", "z"} {
		only[*Push](t, h.publish("a", p)) // never completed
	}
	before := h.n.Status().Counters.BacklogDropped
	h.beacon("new", "old:5671", 0)
	if got := h.n.Status().Counters.BacklogDropped - before; got != 3 {
		t.Fatalf("backlog_dropped rose by %d when the peer was replaced, want 3 (the pushes it never acknowledged)", got)
	}
	if h.n.chains["old"] != nil {
		t.Fatal("the old instance's chain is kept")
	}
}
