package state

import (
	"strings"
	"testing"
)

// Pins that a local retained publish that would pass the node's memory
// budget (not MaxRetainedBytes) is refused with Limit and counted under
// the budget reason, not the retained limit's.
func TestARetainedPublishPastTheBudgetIsRefusedAndCountedAsBudget(t *testing.T) {
	dedup := newHarness(t, "n0").n.Memory().Total // fixed: the dedup filter
	h := newHarness(t, "n1", func(c *Config) { c.BudgetBytes = dedup + 500 })
	h.start()
	effs := h.publish("cfg", strings.Repeat("x", 1000), retain)
	c, ok := completions(effs)[h.req]
	if !ok || CodeOf(c.Err) != Limit {
		t.Fatalf("answered %v (%v), want a Limit error", c.Err, ok)
	}
	r := h.n.Status().Counters.Rejected
	if r[reasonBudget] != 1 || r[reasonRetainedLimit] != 0 {
		t.Fatalf("Rejected[%s]=%d Rejected[%s]=%d, want 1 and 0", reasonBudget, r[reasonBudget], reasonRetainedLimit, r[reasonRetainedLimit])
	}
	if h.n.Retained("cfg") != nil {
		t.Fatal("the refused value was stored")
	}
}
