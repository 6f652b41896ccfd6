package state

import (
	"fmt"
	"testing"
	"time"
)

// A new instance at the address of a known peer (a restart there) is not
// a new peer as far as the per-address rate goes: it replaces the old one
// even when that address has no tokens left.
func TestARestartAtAKnownPeersAddressIsAdmittedWhenTheAddressHasNoTokensLeft(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.NewPeerBurst = 1; c.NewPeerRate = 0.001 })
	h.start()
	h.beacon("first", "10.0.0.2:5671", 0) // spends the address's only token
	effs := h.beacon("second", "10.0.0.2:5671", 0)
	if c := only[*ClosePeer](t, effs); c.Peer != "first" {
		t.Fatalf("closed %v, want the old instance", c)
	}
	if got := h.n.Status().Counters.Rejected[reasonNewPeerRate]; got != 0 || !h.n.KnowsPeer("second") {
		t.Fatalf("the restarted instance: new_peer_rate=%d, known=%v; want 0, true", got, h.n.KnowsPeer("second"))
	}
}

// newID beacons a never-seen instance from addr.
func (h *harness) newID(id, addr string) {
	h.step(&BeaconReceived{Beacon: Beacon{Instance: id, Cluster: "test", Addr: addr, Version: 1}})
}

// The rate is per host, and an IPv6 host is everything before the port:
// two hosts of one IPv6 prefix each have their own bucket.
func TestTwoIPv6HostsHaveANewPeerBucketEach(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.NewPeerBurst = 1; c.NewPeerRate = 0.001 })
	h.start()
	h.newID("a", "[fd00::1]:5671")
	h.newID("b", "[fd00::2]:5671")
	if got := h.n.Status().Counters.Rejected[reasonNewPeerRate]; got != 0 || !h.n.KnowsPeer("b") {
		t.Fatalf("second IPv6 host: new_peer_rate=%d, known=%v; want 0, true", got, h.n.KnowsPeer("b"))
	}
	h.newID("c", "[fd00::1]:5672") // the first host again, another port
	if h.n.KnowsPeer("c") {
		t.Fatal("an IPv6 host's other port got a bucket of its own")
	}
}

// A host idle for a long time saves up NewPeerBurst new peers at most,
// not a second's worth of NewPeerRate for every second it was idle.
func TestAnIdleHostSavesUpNoMoreThanTheBurst(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.NewPeerBurst = 2; c.NewPeerRate = 1 })
	h.start()
	h.newID("first", "10.0.0.9:1")
	h.advance(100 * time.Second)
	for i := range 5 {
		h.newID(fmt.Sprint("later-", i), fmt.Sprint("10.0.0.9:", 10+i))
	}
	if got := h.n.Status().Counters.Rejected[reasonNewPeerRate]; got != 3 {
		t.Fatalf("after 100 s idle, 5 new ids at once: new_peer_rate=%d, want 3 (a burst of 2 admitted)", got)
	}
}

// A refused attempt still spends the time it refilled: at 1 a second, a
// host that got a new peer in 0.9 s ago has 0.9 of a token, however many
// refused attempts came in between.
func TestARefusedNewPeerDoesNotLetTheSameRefillCountTwice(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.NewPeerBurst = 1; c.NewPeerRate = 1 })
	h.start()
	h.newID("a", "10.0.0.9:1")
	h.advance(500 * time.Millisecond)
	h.newID("b", "10.0.0.9:2") // 0.5 of a token: refused
	h.advance(400 * time.Millisecond)
	h.newID("c", "10.0.0.9:3") // 0.9 of a token: refused
	if got := h.n.Status().Counters.Rejected[reasonNewPeerRate]; got != 2 || h.n.KnowsPeer("c") {
		t.Fatalf("0.9 s after a new peer: new_peer_rate=%d, c known=%v; want 2, false", got, h.n.KnowsPeer("c"))
	}
	h.advance(100 * time.Millisecond)
	h.newID("d", "10.0.0.9:4") // a whole token
	if !h.n.KnowsPeer("d") {
		t.Fatal("a second after the last new peer, the next was refused")
	}
}
