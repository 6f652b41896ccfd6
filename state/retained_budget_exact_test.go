package state

import "testing"

// Pins the budget as what may be held: a local retained value that brings
// the node to exactly BudgetBytes is stored, not refused.
func TestARetainedValueFillingTheBudgetExactlyIsStored(t *testing.T) {
	dedup := newHarness(t, "n0").n.Memory().Total // fixed: the dedup filter
	h := newHarness(t, "n1", func(c *Config) { c.BudgetBytes = dedup + oneCost("cfg", "v1") })
	h.start()
	effs := h.publish("cfg", "v1", retain)
	if c := completions(effs)[h.req]; c.Err != nil {
		t.Fatalf("refused: %v", c.Err)
	}
	if m := h.n.Retained("cfg"); m == nil || string(m.Payload) != "v1" {
		t.Fatalf("retained %v, want v1, which fills the budget exactly", m)
	}
	if got := h.n.Status().Counters.Rejected[reasonBudget]; got != 0 {
		t.Fatalf("Rejected[%s] = %d, want 0", reasonBudget, got)
	}
}
