package state

import "testing"

// Past BudgetBytes, what dead peers missed gives before the backlogs of
// live peers: a live peer's waiting pushes are shed only once nothing a
// dead peer missed is left to shed.
func TestBudgetShedsWhatDeadPeersMissedBeforeLivePeersBacklogs(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.BudgetBytes = 16 << 20; c.PushWindow = 1 })
	h.start()
	h.sync("n3", "big")
	h.killPeer(t, "n3")
	h.sync("n2", "small")
	for range 4 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "small", Payload: []byte("s")})
	}
	for range 30 {
		h.n.Step(h.now, &Published{Req: 1, Topic: "big", Payload: mib})
	}
	st := h.n.Status()
	if st.Memory.Total > 16<<20 || st.Counters.Shed["departed"] == 0 {
		t.Fatalf("total %d, shed %v: want what n3 missed to give", st.Memory.Total, st.Counters.Shed)
	}
	if st.Counters.Shed["backlog"] != 0 || st.Memory.Departed == 0 {
		t.Fatalf("shed %v with %d bytes still kept for n3: a live peer's backlog gave first", st.Counters.Shed, st.Memory.Departed)
	}
}
