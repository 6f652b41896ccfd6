package state

import (
	"testing"
	"time"
)

// Peers waiting for a free fetch slot get one in the order they started
// waiting, however many beacons each sends while it waits: a peer that
// beaconed twice while waiting once, and later had to wait again, is
// fetched after a peer that started waiting in between.
func TestBeaconsWhileWaitingForAFetchSlotDoNotJumpTheQueue(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxFetchesInFlight = 1 })
	h.start()
	fa := only[*FetchState](t, h.beacon("A", "A:5671", 0))
	h.beacon("B", "B:5671", 7) // waits
	h.beacon("X", "X:5671", 0) // waits
	h.beacon("B", "B:5671", 7) // still waiting: changes nothing
	fb := only[*FetchState](t, h.step(&FetchCompleted{Call: fa.Call, State: &NodeState{Instance: "A"}}))
	if fb.Peer != "B" {
		t.Fatalf("fetched %s, want B (first to wait)", fb.Peer)
	}
	// B answers with a state older than its beacon: retried after FetchInterval.
	fx := only[*FetchState](t, h.step(&FetchCompleted{Call: fb.Call, State: &NodeState{Instance: "B"}}))
	if fx.Peer != "X" {
		t.Fatalf("fetched %s, want X", fx.Peer)
	}
	h.beacon("Y", "Y:5671", 0) // waits
	if effs := h.advance(time.Second); len(of[*FetchState](effs)) != 0 {
		t.Fatalf("a fetch started with the only slot taken:\n%s", describe(effs))
	} // B's retry is due now, and waits behind Y
	next := only[*FetchState](t, h.step(&FetchCompleted{Call: fx.Call, State: &NodeState{Instance: "X"}}))
	if next.Peer != "Y" {
		t.Fatalf("fetched %s, want Y (waiting since before B's retry)", next.Peer)
	}
}
