package state

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The peer table behaves as a map through any mix of adds and removes.
func TestPeerTableAgreesWithAMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var tab peerTable
	ref := map[string]*peer{}
	for step := range 20000 {
		id := fmt.Sprintf("peer-%d", r.IntN(300))
		switch {
		case ref[id] == nil && r.IntN(3) > 0:
			p := &peer{id: id}
			tab.put(p)
			ref[id] = p
		case ref[id] != nil && r.IntN(2) == 0:
			tab.del(id)
			delete(ref, id)
		}
		probe := fmt.Sprintf("peer-%d", r.IntN(300))
		if got := tab.get(probe); got != ref[probe] {
			t.Fatalf("step %d: get(%s) = %v, want %v", step, probe, got, ref[probe])
		}
		if tab.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(ref))
		}
	}
	seen := 0
	tab.each(func(p *peer) {
		if ref[p.id] != p {
			t.Fatalf("each gave %s, not in the map", p.id)
		}
		seen++
	})
	if seen != len(ref) {
		t.Fatalf("each gave %d peers, want %d", seen, len(ref))
	}
}
