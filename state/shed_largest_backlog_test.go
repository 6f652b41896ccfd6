package state

import "testing"

// When the node passes BudgetBytes and its rings are empty, the peer
// backlog that gives is the largest: the peer that is furthest behind
// loses its oldest waiting pushes, and a peer with a small backlog keeps
// all of its own.
func TestBudgetShedsTheLargestPeerBacklogFirst(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.BudgetBytes = 16 << 20; c.PushWindow = 1 })
	h.start()
	h.sync("n2", "big")
	h.sync("n3", "small")
	for range 4 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "small", Payload: []byte("s")})
	}
	for range 30 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "big", Payload: mib})
	}
	st := h.n.Status()
	if st.Memory.Total > 16<<20 || st.Counters.Shed["backlog"] == 0 {
		t.Fatalf("total %d, shed %v: want the big backlog to give", st.Memory.Total, st.Counters.Shed)
	}
	for _, p := range h.n.Peers() {
		if p.ID == "n3" && p.Link.Backlog != 3 {
			t.Fatalf("n3's small backlog holds %d waiting, want its 3 (one of 4 in flight)", p.Link.Backlog)
		}
	}
}
