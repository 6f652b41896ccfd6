package state

import (
	"fmt"
	"testing"
)

// memberAt is a member's beacon numbered (epoch, counter).
func (h *harness) memberAt(id string, epoch, counter uint64) []Effect {
	return h.step(&BeaconReceived{Beacon: Beacon{Instance: id, Cluster: "test", Addr: id + ":5671", Version: 1,
		WallMs: h.now.WallMs, Member: true, Epoch: epoch, Counter: counter}})
}

// Beacon pairs are ordered epoch first, then counter: a later epoch is
// newer whatever its counter, and an earlier one is a replay whatever its
// counter.
func TestALaterBootEpochIsNewerWhateverItsCounter(t *testing.T) {
	h := newHarness(t, "n1", members)
	h.start()
	h.memberAt("m", 1, 50)
	h.memberAt("m", 2, 1) // counting starts again in a later epoch
	if got := h.n.Status().Counters.Rejected[reasonReplayed]; got != 0 {
		t.Fatalf("(2, 1) after (1, 50): replayed=%d, want 0", got)
	}
	h.memberAt("m", 1, 99) // an earlier epoch, however high its counter
	h.memberAt("m", 2, 1)  // the same pair again
	if got := h.n.Status().Counters.Rejected[reasonReplayed]; got != 2 {
		t.Fatalf("(1, 99) and (2, 1) again after (2, 1): replayed=%d, want 2", got)
	}
}

// A removed member's last pair is remembered, so its replays stay
// refused, but only for the latest maxPastMarks (4096) removed instances:
// one more removal forgets the oldest.
func TestTheLastPairsOfAtMostMaxPastMarksRemovedMembersAreRemembered(t *testing.T) {
	h := newHarness(t, "n1", members)
	h.start()
	// Each instance restarts at the same address as the one before, which
	// removes that one: maxPastMarks+1 removed, straight to the node (the
	// harness's invariant check per step is slow here).
	for i := range maxPastMarks + 2 {
		h.n.Step(h.now, &BeaconReceived{Beacon: Beacon{Instance: fmt.Sprint("m", i), Cluster: "test", Addr: "10.0.0.2:5671",
			Version: 1, Member: true, Epoch: 1, Counter: 7}})
	}
	h.memberAt("m1", 1, 7) // the oldest still remembered: a replay
	if got := h.n.Status().Counters.Rejected[reasonReplayed]; got != 1 {
		t.Fatalf("the replay of removed m1: replayed=%d, want 1", got)
	}
	h.memberAt("m0", 1, 7) // forgotten: taken as new
	if got := h.n.Status().Counters.Rejected[reasonReplayed]; got != 1 || !h.n.KnowsPeer("m0") {
		t.Fatalf("m0, one past the bound: replayed=%d, known=%v; want 1, true", got, h.n.KnowsPeer("m0"))
	}
}

// Only members' pairs are remembered: on a node that takes beacons with
// and without the key, removing maxPastMarks peers that never sent a
// numbered beacon does not push a removed member's pair out, so that
// member's replay is still refused.
func TestRemovedNonMembersDoNotPushAMembersPairOutOfMemory(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.memberAt("m", 1, 7)
	h.beacon("m2", "m:5671", 0)       // a restart at m's address removes m
	for i := range maxPastMarks + 1 { // each restart at the same address removes the one before
		h.n.Step(h.now, &BeaconReceived{Beacon: Beacon{Instance: fmt.Sprint("plain", i), Cluster: "test", Addr: "m:5671", Version: 1}})
	}
	h.memberAt("m", 1, 7)
	if got := h.n.Status().Counters.Rejected[reasonReplayed]; got != 1 || h.n.KnowsPeer("m") {
		t.Fatalf("m's replay after %d non-members were removed: replayed=%d, known=%v; want 1, false", maxPastMarks+1, got, h.n.KnowsPeer("m"))
	}
}
