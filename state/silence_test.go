package state

import (
	"fmt"
	"testing"
	"time"
)

// A peer that falls silent in the middle of the silence queue is suspected
// at its own deadline, while the peers around it keep beaconing.
func TestPeerSilentAmongChattyOnesIsSuspectedAtItsOwnDeadline(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	ids := []string{"n2", "n3", "n4", "n5", "n6"}
	var n4Heard time.Duration
	for _, id := range ids {
		if id == "n4" {
			n4Heard = h.now.Mono
		}
		h.sync(id)
		h.advance(500 * time.Millisecond)
	}
	// The others go on beaconing every 500 ms.
	deadline := n4Heard + h.n.cfg.SuspectAfter
	var probes []*Probe
	for step := 0; h.now.Mono < deadline-10*time.Millisecond; step++ {
		if step%50 == 0 {
			for _, id := range ids {
				if id != "n4" {
					h.beacon(id, id+":5671", TopicStateHash(nil))
				}
			}
		}
		probes = append(probes, of[*Probe](h.advance(10*time.Millisecond))...)
	}
	if len(probes) != 0 {
		t.Fatalf("probed %v before n4's deadline at %s", probes, deadline)
	}
	p := only[*Probe](t, h.advance(10*time.Millisecond))
	if p.Peer != "n4" {
		t.Fatalf("probed %s, want n4", p.Peer)
	}
	for _, info := range h.n.Peers() {
		if want := map[bool]PeerStatus{true: Suspected, false: Alive}[info.ID == "n4"]; info.Status != want {
			t.Errorf("%s is %v, want %v", info.ID, info.Status, want)
		}
	}
	h.step(&ProbeCompleted{Call: p.Call})
	if info := h.n.Peers()[2]; info.ID != "n4" || info.Status != Alive {
		t.Fatalf("after answering its probe: %+v", info)
	}
}

// Beacons from many peers do not grow the timer heap: silence is tracked
// by two queues and one alarm, not a timer per peer.
func TestTimerHeapDoesNotGrowWithPeers(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	for i := range 200 {
		h.sync(fmt.Sprintf("p%03d", i))
	}
	for range 30 {
		h.advance(time.Second)
		for i := range 200 {
			id := fmt.Sprintf("p%03d", i)
			h.beacon(id, id+":5671", TopicStateHash(nil))
		}
	}
	if len(h.n.Peers()) != 200 {
		t.Fatalf("%d peers, want 200", len(h.n.Peers()))
	}
	if len(h.n.timers) > 10 {
		t.Fatalf("%d timer entries for 200 beaconing peers, want a handful", len(h.n.timers))
	}
}
