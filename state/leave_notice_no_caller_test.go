package state

import "testing"

// Pins that a leave notice with no caller address is ignored and counted
// even for a peer known at an address without a port, whose host reads
// as empty too: an unknown caller never matches.
func TestALeaveNoticeWithoutACallerIsIgnoredEvenForAPeerKnownWithoutAPort(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.beacon("n2", "n2", 0) // an address with no port: hostOf reads ""
	if p := h.n.Peers(); len(p) != 1 {
		t.Fatalf("peers %+v, want n2", p)
	}
	if effs := h.step(&LeaveNoticed{Instance: "n2", From: ""}); len(of[*ClosePeer](effs)) != 0 {
		t.Fatalf("a notice with no caller removed n2:\n%s", describe(effs))
	}
	if p := h.n.Peers(); len(p) != 1 || p[0].ID != "n2" {
		t.Fatalf("peers %+v, want n2 still there", p)
	}
	if c := h.n.Status().Counters; c.LeavesIgnored != 1 || c.PeersLeft != 0 {
		t.Fatalf("ignored=%d left=%d, want 1 0", c.LeavesIgnored, c.PeersLeft)
	}
}
