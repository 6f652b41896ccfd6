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

// queuesOfEqualSize subscribes two streams to "t" that queue what they
// get, and publishes one message of 1000 bytes on a node whose budget is
// budget(total, ring): total and ring are what the node would hold, all
// told and in its ring, with no budget at all. It returns the two
// subscriptions' ids and the harness.
func queuesOfEqualSize(t *testing.T, budget func(total, ring int) int) (a, b string, h *harness) {
	payload := make([]byte, 1000)
	free := newHarness(t, "n1")
	free.start()
	free.fullSub(1, 0, DropOldest, "t")
	free.fullSub(2, 0, DropOldest, "t")
	free.n.Step(free.now, &Published{Req: 1, Topic: "t", Payload: payload})
	m := free.n.Memory()
	h = newHarness(t, "n1", func(c *Config) { c.BudgetBytes = budget(m.Total, m.Ring) })
	h.start()
	a, b = h.fullSub(1, 0, DropOldest, "t"), h.fullSub(2, 0, DropOldest, "t")
	h.n.Step(h.now, &Published{Req: 1, Topic: "t", Payload: payload})
	return a, b, h
}

// Two queues of the same size, one byte too many once the ring has given
// its message: the queue that gives is the subscription with the smaller
// id, so every run of a seed sheds the same message (the simulator's
// replays depend on it).
func TestBudgetShedsTheSmallerIDOfTwoEqualQueues(t *testing.T) {
	a, b, h := queuesOfEqualSize(t, func(total, ring int) int { return total - ring - 1 })
	st := h.n.Status()
	if st.Counters.Shed["ring"] != 1 || st.Counters.Shed["queue"] != 1 {
		t.Fatalf("shed %v, want the ring's message and then one queued", st.Counters.Shed)
	}
	first, second := min(a, b), max(a, b)
	if d1, d2 := h.subStatus(first).Dropped, h.subStatus(second).Dropped; d1 != 1 || d2 != 0 {
		t.Fatalf("dropped %d from %s (the smaller id) and %d from %s, want 1 and 0", d1, first, d2, second)
	}
}

// Shedding stops once the node is back to exactly its budget: the ring's
// message, which brings it there, is the only one to give.
func TestBudgetStopsSheddingAtExactlyTheBudget(t *testing.T) {
	_, _, h := queuesOfEqualSize(t, func(total, ring int) int { return total - ring })
	st := h.n.Status()
	if st.Counters.Shed["ring"] != 1 || st.Counters.Shed["queue"] != 0 {
		t.Fatalf("shed %v, want the ring's message alone", st.Counters.Shed)
	}
	if st.Memory.Total != st.Memory.Budget {
		t.Fatalf("holds %d bytes of a budget of %d, want exactly the budget", st.Memory.Total, st.Memory.Budget)
	}
}
