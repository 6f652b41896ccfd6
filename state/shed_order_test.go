package state

import "testing"

// overBudget publishes 4 small messages to "small" then 30 of 1 MiB to
// "big" on h, whose budget is 16 MiB, and returns its status after.
func overBudget(h *harness) Status {
	for range 4 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "small", Payload: []byte("s")})
	}
	for range 30 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "big", Payload: mib})
	}
	return h.n.Status()
}

func budgetHarness(t *testing.T) *harness {
	h := newHarness(t, "n1", func(c *Config) { c.BudgetBytes = 16 << 20; c.PushWindow = 1 })
	h.start()
	return h
}

// When the node passes BudgetBytes and its rings are empty, the peer
// backlog that gives is the largest: the peer that is furthest behind
// loses its oldest waiting pushes, and a peer with a small backlog keeps
// all of its own.
func TestBudgetShedsTheLargestPeerBacklogFirst(t *testing.T) {
	h := budgetHarness(t)
	h.sync("n2", "big")
	h.sync("n3", "small")
	st := overBudget(h)
	if st.Memory.Total > 16<<20 || st.Counters.Shed["backlog"] == 0 {
		t.Fatalf("total %d, shed %v: want the big backlog to give", st.Memory.Total, st.Counters.Shed)
	}
	for _, p := range h.n.Peers() {
		if p.ID == "n3" && p.Link.Backlog != 3 {
			t.Fatalf("n3's small backlog holds %d waiting, want its 3 (one of 4 in flight)", p.Link.Backlog)
		}
	}
}

// Past BudgetBytes, what dead peers missed gives before the backlogs of
// live peers: a live peer's waiting pushes are shed only once nothing a
// dead peer missed is left to shed.
func TestBudgetShedsWhatDeadPeersMissedBeforeLivePeersBacklogs(t *testing.T) {
	h := budgetHarness(t)
	h.sync("n3", "big")
	h.killPeer(t, "n3")
	h.sync("n2", "small")
	st := overBudget(h)
	if st.Memory.Total > 16<<20 || st.Counters.Shed["departed"] == 0 {
		t.Fatalf("total %d, shed %v: want what n3 missed to give", st.Memory.Total, st.Counters.Shed)
	}
	if st.Counters.Shed["backlog"] != 0 || st.Memory.Departed == 0 {
		t.Fatalf("shed %v with %d bytes still kept for n3: a live peer's backlog gave first", st.Counters.Shed, st.Memory.Departed)
	}
}
