package state

import (
	"fmt"
	"testing"
)

// A fetched state is routed by its first MaxPatterns valid patterns at
// most: with one pattern too many, the last (in sorted order) is refused
// and counted, and the others are routed.
func TestAPeerIsRoutedByAtMostMaxPatternsOfItsPatterns(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxPatterns = 3 })
	h.start()
	h.sync("n2", "p/1", "p/2", "p/3", "p/4")
	for i := 1; i <= 4; i++ {
		want := 1
		if i == 4 {
			want = 0
		}
		if got := len(of[*Push](h.publish(fmt.Sprint("p/", i), "x"))); got != want {
			t.Fatalf("p/%d: %d pushes, want %d", i, got, want)
		}
	}
	if got := h.n.Status().Counters.Rejected[reasonPeerPatterns]; got != 1 {
		t.Fatalf("peer_patterns=%d, want 1", got)
	}
}

// The same bound holds for a peer's queue group entries: MaxPatterns of
// them are kept, the one after is refused and counted.
func TestAPeerKeepsAtMostMaxPatternsQueueGroupEntries(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxPatterns = 2 })
	h.start()
	h.syncGroups("n2", nil, GroupMembers{"g/1", "w", 1}, GroupMembers{"g/2", "w", 1}, GroupMembers{"g/3", "w", 1})
	got, _ := h.n.PeerGroups("n2")
	if fmt.Sprint(got) != "[g/1:w=1 g/2:w=1]" {
		t.Fatalf("kept %v, want [g/1:w=1 g/2:w=1]", got)
	}
	if got := h.n.Status().Counters.Rejected[reasonPeerPatterns]; got != 1 {
		t.Fatalf("peer_patterns=%d, want 1", got)
	}
}
