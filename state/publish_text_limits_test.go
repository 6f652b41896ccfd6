package state

import (
	"strings"
	"testing"
)

// Pins the envelope text caps on a lone publish as inclusive: a
// content_type of exactly maxContentTypeBytes and a correlation_id of
// exactly maxCorrelationBytes are published; one byte more is refused.
func TestAPublishsTextFieldsAtTheirCapArePublishedAndOneMoreIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    Extras
		ok   bool
	}{
		{"content type at the cap", Extras{ContentType: strings.Repeat("c", maxContentTypeBytes)}, true},
		{"content type past the cap", Extras{ContentType: strings.Repeat("c", maxContentTypeBytes+1)}, false},
		{"correlation at the cap", Extras{Correlation: strings.Repeat("r", maxCorrelationBytes)}, true},
		{"correlation past the cap", Extras{Correlation: strings.Repeat("r", maxCorrelationBytes+1)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			x := tc.x
			effs := h.publish("a", "p", func(p *Published) { p.Extras = ExtrasOf(x) })
			c := completions(effs)[h.req]
			if tc.ok && c.Err != nil {
				t.Fatalf("refused: %v", c.Err)
			}
			if !tc.ok && CodeOf(c.Err) != Invalid {
				t.Fatalf("answered %v, want Invalid", c.Err)
			}
			if got := h.n.Status().Counters.Rejected[reasonBadArgument]; (got == 0) != tc.ok {
				t.Fatalf("Rejected[%s]=%d", reasonBadArgument, got)
			}
		})
	}
}

// Pins the same inclusive caps in a batch (its quick check, fieldsOK): a
// batched publish with both text fields at their caps is published and
// delivered, not answered without a message.
func TestABatchedPublishWithTextFieldsAtTheirCapIsPublished(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 10, "a")
	x := ExtrasOf(Extras{ContentType: strings.Repeat("c", maxContentTypeBytes), Correlation: strings.Repeat("r", maxCorrelationBytes)})
	effs := h.step(&PublishedBatch{Pubs: []Published{
		{Req: 1, Topic: "a", Payload: []byte("p1"), Extras: x},
		{Req: 2, Topic: "a", Payload: []byte("p2"), Extras: x},
	}})
	cs := completions(effs)
	for _, req := range []uint64{1, 2} {
		if c, ok := cs[req]; !ok || c.Err != nil || c.Result.MessageID == "" {
			t.Fatalf("publish %d answered %+v (%v), want a message id", req, c, ok)
		}
	}
	if got := payloads(effs, 1); len(got) != 2 {
		t.Fatalf("subscriber got %v, want p1 p2", got)
	}
}
