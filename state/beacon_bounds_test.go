package state

import (
	"fmt"
	"strings"
	"testing"
)

// An instance id of exactly the longest allowed length (64 bytes) is a
// valid beacon: the peer is admitted and fetched, nothing is refused.
func TestAnInstanceIDOfExactlySixtyFourBytesIsAdmitted(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	id := strings.Repeat("i", maxIDBytes)
	if f := only[*FetchState](t, h.beacon(id, "10.0.0.2:5671", 0)); f.Peer != id {
		t.Fatalf("fetched %q", f.Peer)
	}
	if got := h.n.Status().Counters.Rejected[reasonBadBeacon]; got != 0 || !h.n.KnowsPeer(id) {
		t.Fatalf("a 64-byte id: bad_beacon=%d, known=%v; want 0, true", got, h.n.KnowsPeer(id))
	}
}

// The peer table holds at most maxPeers (4096) peers: the last one that
// fits is admitted, the one after it is refused as too many.
func TestThePeerTableAdmitsExactlyMaxPeersAndRefusesTheNext(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.NewPeerBurst = 2 * maxPeers })
	h.start()
	for i := range maxPeers { // straight to the node: the harness's invariant check per step is slow here
		h.n.Step(h.now, &BeaconReceived{Beacon: Beacon{Instance: fmt.Sprint("p", i), Cluster: "test", Addr: fmt.Sprint("10.0.0.2:", 1000+i), Version: 1}})
	}
	if got := h.n.Status().Counters.Rejected[reasonTooManyPeers]; got != 0 || len(h.n.Peers()) != maxPeers {
		t.Fatalf("%d peers admitted, too_many_peers=%d: want %d and 0", len(h.n.Peers()), got, maxPeers)
	}
	h.n.Step(h.now, &BeaconReceived{Beacon: Beacon{Instance: "one-more", Cluster: "test", Addr: "10.0.0.3:5671", Version: 1}})
	if got := h.n.Status().Counters.Rejected[reasonTooManyPeers]; got != 1 || h.n.KnowsPeer("one-more") {
		t.Fatalf("peer %d: too_many_peers=%d, known=%v; want 1, false", maxPeers+1, got, h.n.KnowsPeer("one-more"))
	}
	if err := h.n.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
