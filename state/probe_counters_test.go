package state

import (
	"testing"
	"time"
)

// Each probe is counted once sent, and once more by how it ended: a probe
// that fails counts as failed (not OK), one that is answered as OK.
func TestProbesAreCountedAsAnsweredOrFailed(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2")
	probe := only[*Probe](t, h.advance(3100*time.Millisecond))
	h.step(&ProbeCompleted{Call: probe.Call, Err: errTest})
	c := h.n.Status().Counters
	if c.ProbesSent != 1 || c.ProbesFailed != 1 || c.ProbesOK != 0 {
		t.Fatalf("after a failed probe: sent %d, failed %d, ok %d; want 1, 1, 0", c.ProbesSent, c.ProbesFailed, c.ProbesOK)
	}
	h.beacon("n2", "n2:5671", 0) // alive again
	probe = only[*Probe](t, h.advance(3100*time.Millisecond))
	h.step(&ProbeCompleted{Call: probe.Call})
	c = h.n.Status().Counters
	if c.ProbesSent != 2 || c.ProbesFailed != 1 || c.ProbesOK != 1 {
		t.Fatalf("after an answered probe: sent %d, failed %d, ok %d; want 2, 1, 1", c.ProbesSent, c.ProbesFailed, c.ProbesOK)
	}
}
