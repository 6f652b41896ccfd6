package state

import "testing"

// Pins that the leave beacon a stopping node sends is counted in
// BeaconsSent, like every beacon it sends.
func TestTheLeaveBeaconIsCountedAsABeaconSent(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	before := h.n.Status().Counters.BeaconsSent
	only[*SendBeacon](t, h.step(&Leaving{}))
	if got := h.n.Status().Counters.BeaconsSent; got != before+1 {
		t.Fatalf("BeaconsSent %d after the leave beacon, want %d", got, before+1)
	}
}

// Pins that a peer's accepted leave beacon is counted in BeaconsReceived,
// as any beacon accepted from a peer of our cluster is.
func TestAnAcceptedLeaveBeaconIsCountedAsABeaconReceived(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	before := h.n.Status().Counters.BeaconsReceived
	only[*ClosePeer](t, h.leaveBeacon("n2", "n2:5671", 0))
	if got := h.n.Status().Counters.BeaconsReceived; got != before+1 {
		t.Fatalf("BeaconsReceived %d after n2's leave, want %d", got, before+1)
	}
}
