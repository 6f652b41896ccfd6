package state

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// leaves has peer id announce through the mesh that it is stopping.
func (h *harness) leaves(id string) {
	h.t.Helper()
	if c := only[*ClosePeer](h.t, h.step(&LeaveNoticed{Instance: id, From: id + ":40123"})); c.Peer != id {
		h.t.Fatalf("closed %s, want %s", c.Peer, id)
	}
}

// pushedOnReturn is what peer id is pushed when its beacon comes back.
func (h *harness) pushedOnReturn(id string, patterns ...string) []string {
	var got []string
	for _, p := range of[*Push](h.beacon(id, id+":5671", TopicStateHash(patterns))) {
		got = append(got, string(p.Msg.Payload))
	}
	return got
}

// A peer's chain is remembered for DepartedRetention from its death and
// not an instant longer: a departure that sweeps the dead an instant
// before keeps it, one exactly DepartedRetention after forgets it, and the
// peer coming back then is not pushed what it missed.
func TestADepartedChainIsForgottenExactlyDepartedRetentionAfterItsDeath(t *testing.T) {
	const retention = 10 * time.Second
	h := newHarness(t, "n1", func(c *Config) { c.DepartedRetention = retention })
	h.start()
	h.sync("n2", "a")
	h.sync("n3", "x")
	h.sync("n4", "y")
	died := h.now.Mono
	h.leaves("n2")
	h.publish("a", "while-away")
	h.setMono(died + retention - 1)
	h.leaves("n3") // a departure sweeps the chains of the dead
	if h.n.chains["n2"] == nil {
		t.Fatal("n2's chain forgotten before DepartedRetention")
	}
	h.setMono(died + retention)
	h.leaves("n4")
	if h.n.chains["n2"] != nil {
		t.Fatal("n2's chain still remembered DepartedRetention after its death")
	}
	if got := h.pushedOnReturn("n2", "a"); len(got) != 0 {
		t.Fatalf("n2, back DepartedRetention after its death, pushed %v", got)
	}
}

// A peer that dies at the very origin of the monotonic clock (Mono 0) is
// still counted dead: what it missed is kept and pushed when it returns.
func TestAPeerThatLeavesAtMonoZeroGetsWhatItMissedWhenItReturns(t *testing.T) {
	h := newHarness(t, "n1")
	h.now.Mono = 0
	h.start()
	h.sync("n2", "a")
	h.leaves("n2")
	h.publish("a", "while-away")
	h.advance(6 * time.Second) // past the hold on a peer that left
	if got := h.pushedOnReturn("n2", "a"); len(got) != 1 || got[0] != "while-away" {
		t.Fatalf("n2, back, pushed %v, want [while-away]", got)
	}
}

// What a dead peer missed keeps at least the newest message, even one
// alone larger than PeerBacklogBytes: the cap lets older ones go, never
// the last, so the peer coming back is pushed it (and, by its predecessor,
// learns of what went before).
func TestADeadPeerIsKeptItsLastMissedMessageEvenOverPeerBacklogBytes(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.PeerBacklogBytes = 1 << 10 })
	h.start()
	h.sync("n2", "a")
	h.leaves("n2")
	h.publish("a", "small")
	h.publish("a", strings.Repeat("x", 4<<10))
	h.advance(6 * time.Second) // past the hold on a peer that left
	got := h.pushedOnReturn("n2", "a")
	if len(got) != 1 || len(got[0]) != 4<<10 {
		t.Fatalf("n2, back, pushed %d messages, want the last one, 4 KiB", len(got))
	}
}

// Every push a full backlog lets go is counted in BacklogDropped, for a
// live peer's link and for what a dead peer missed alike.
func TestPushesShedFromAFullBacklogAreCounted(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.PushWindow = 1; c.PeerBacklogLimit = 1 })
	h.start()
	h.sync("n2", "a")
	h.sync("n3", "b")
	for i := range 3 { // m0 in flight, m1 waits, m2 pushes m1 out
		h.publish("a", fmt.Sprint("m", i))
	}
	if d := h.n.Status().Counters.BacklogDropped; d != 1 {
		t.Fatalf("a live link shed one push: BacklogDropped %d", d)
	}
	h.leaves("n3")
	for i := range 3 { // n3 is kept only the last
		h.publish("b", fmt.Sprint("m", i))
	}
	if d := h.n.Status().Counters.BacklogDropped; d != 3 {
		t.Fatalf("and a dead peer's list two more: BacklogDropped %d, want 3", d)
	}
}
