package state

import (
	"fmt"
	"testing"
	"time"
)

// A peer that came back from the dead at its address and later moved
// elsewhere is no longer "the dead one that lived at the old address": a
// new instance showing up there does not make the node forget the peer's
// history, so when the peer dies again and returns it still gets what it
// missed.
func TestANewInstanceAtAReturnedPeersOldAddressLeavesThePeersHistoryAlone(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	h.killPeer(t, "n2")
	hash := TopicStateHash([]string{"a"})
	h.beacon("n2", "n2:5671", hash) // back from the dead where it lived
	// Silent there, then claimed at a new address where it answers: it moves.
	only[*Probe](t, h.advance(3100*time.Millisecond))
	move := only[*Probe](t, h.beacon("n2", "new:5671", hash))
	h.step(&ProbeCompleted{Call: move.Call})
	// Another process at n2's old address.
	h.beacon("n3", "n2:5671", 0)
	h.beacon("n2", "new:5671", hash)

	// n2 dies again (n3 stays alive).
	dead := false
	for range 6 {
		for _, e := range h.advance(time.Second) {
			switch e := e.(type) {
			case *Probe:
				h.step(&ProbeCompleted{Call: e.Call, Err: errTest})
			case *ClosePeer:
				dead = dead || e.Peer == "n2"
			}
		}
		h.beacon("n3", "n2:5671", 0)
	}
	if !dead || !h.n.KnowsPeer("n3") {
		t.Fatalf("n2 dead %v, n3 known %v: want true, true", dead, h.n.KnowsPeer("n3"))
	}
	h.publish("a", "while-dead")
	var got []string
	for _, p := range of[*Push](h.beacon("n2", "new:5671", hash)) {
		got = append(got, string(p.Msg.Payload))
	}
	if fmt.Sprint(got) != "[while-dead]" {
		t.Fatalf("on its second return n2 was pushed %v, want [while-dead]", got)
	}
}
