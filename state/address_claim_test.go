package state

import (
	"testing"
	"time"
)

// claimTest: n2 synced on pattern "a" and then silent long enough to be
// suspected (its own probe left unanswered).
func claimTest(t *testing.T) *harness {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	only[*Probe](t, h.advance(3100*time.Millisecond))
	return h
}

// pushAddr publishes on "a" and returns the address of the one push.
func (h *harness) pushAddr() string {
	h.t.Helper()
	return only[*Push](h.t, h.publish("a", "x")).Addr
}

// One claim is checked at a time: while the probe of a claimed address is
// under way, a claim of another address probes nothing.
func TestOnlyOneClaimedAddressIsProbedAtATime(t *testing.T) {
	h := claimTest(t)
	hash := TopicStateHash([]string{"a"})
	first := only[*Probe](t, h.beacon("n2", "new1:5671", hash))
	if effs := h.beacon("n2", "new2:5671", hash); len(of[*Probe](effs)) != 0 {
		t.Fatalf("a second claim was probed while the first was:\n%s", describe(effs))
	}
	h.step(&ProbeCompleted{Call: first.Call})
	if got := h.pushAddr(); got != "new1:5671" {
		t.Fatalf("pushed to %s, want new1:5671 (the claim probed)", got)
	}
}

// A peer heard again where it was while its claimed address is probed
// stays where it is, even if the instance answers at the claimed address.
func TestAPeerHeardAgainWhereItIsDoesNotMoveWhenTheClaimIsAnswered(t *testing.T) {
	h := claimTest(t)
	hash := TopicStateHash([]string{"a"})
	move := only[*Probe](t, h.beacon("n2", "new:5671", hash))
	h.beacon("n2", "n2:5671", hash) // alive where it was
	h.step(&ProbeCompleted{Call: move.Call})
	if got := h.pushAddr(); got != "n2:5671" {
		t.Fatalf("pushed to %s, want n2:5671: a live peer moved", got)
	}
	if got := h.n.Status().Counters.PeersMoved; got != 0 {
		t.Fatalf("peers_moved=%d, want 0", got)
	}
}

// Once a peer has moved, its old address is free: a new instance there is
// a new peer and does not replace the one that moved.
func TestANewInstanceAtAMovedPeersOldAddressDoesNotReplaceIt(t *testing.T) {
	h := claimTest(t)
	hash := TopicStateHash([]string{"a"})
	move := only[*Probe](t, h.beacon("n2", "new:5671", hash))
	h.step(&ProbeCompleted{Call: move.Call})
	effs := h.beacon("n3", "n2:5671", 0)
	if len(of[*ClosePeer](effs)) != 0 || !h.n.KnowsPeer("n2") || !h.n.KnowsPeer("n3") {
		t.Fatalf("n3 at n2's old address: n2 known %v, n3 known %v, effects:\n%s", h.n.KnowsPeer("n2"), h.n.KnowsPeer("n3"), describe(effs))
	}
	if got := h.pushAddr(); got != "new:5671" {
		t.Fatalf("pushed to %s, want new:5671", got)
	}
}

// A conflict once reported is reported again after the peer has moved: a
// move starts the peer's conflicts afresh, so a claim of the address it
// was once claimed at is news again.
func TestAConflictIsReportedAgainAfterThePeerMoved(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	hash := TopicStateHash([]string{"a"})
	only[*AddressConflict](t, h.beacon("n2", "evil:5671", hash)) // alive: a conflict
	only[*Probe](t, h.advance(3100*time.Millisecond))
	move := only[*Probe](t, h.beacon("n2", "new:5671", hash))
	h.step(&ProbeCompleted{Call: move.Call}) // moved, alive at new:5671
	c := only[*AddressConflict](t, h.beacon("n2", "evil:5671", hash))
	if c.Addr != "new:5671" || c.Claimed != "evil:5671" {
		t.Fatalf("reported %+v", c)
	}
	if got := h.n.Status().Counters.AddrConflicts; got != 2 {
		t.Fatalf("addr_conflicts=%d, want 2", got)
	}
}

// A peer that moves to an address another peer of ours lives at takes it
// over: the instance that answered there is the moving peer, so the other
// one is gone from there and is removed as replaced.
func TestAPeerMovingToAnotherPeersAddressReplacesThatPeer(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	h.advance(2 * time.Second)
	h.sync("n3") // heard later: still alive when n2 is suspected
	only[*Probe](t, h.advance(1100*time.Millisecond))
	move := only[*Probe](t, h.beacon("n2", "n3:5671", TopicStateHash([]string{"a"})))
	effs := h.step(&ProbeCompleted{Call: move.Call})
	if c := only[*ClosePeer](t, effs); c.Peer != "n3" {
		t.Fatalf("closed %v, want n3", c)
	}
	if h.n.KnowsPeer("n3") || h.n.Status().Counters.PeersReplaced != 1 {
		t.Fatalf("n3 known %v, peers_replaced %d: want false, 1", h.n.KnowsPeer("n3"), h.n.Status().Counters.PeersReplaced)
	}
	if got := h.pushAddr(); got != "n3:5671" {
		t.Fatalf("pushed to %s, want n3:5671", got)
	}
}
