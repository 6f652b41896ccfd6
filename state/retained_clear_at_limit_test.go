package state

import "testing"

// Pins that a clear (empty payload with retain) is never refused to its
// publisher for the retained limit: it frees rather than takes room, so
// even a clear of a topic holding no value is published and delivered at
// MaxRetained.
func TestAClearIsNotRefusedToItsPublisherAtMaxRetained(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxRetained = 2 })
	h.start()
	h.publish("a", "1", retain)
	h.publish("b", "1", retain)
	h.subscribe(1, 10, "c")
	effs := h.publish("c", "", retain)
	c, ok := completions(effs)[h.req]
	if !ok || c.Err != nil {
		t.Fatalf("the clear of c was answered %v (answered %v), want no error", c.Err, ok)
	}
	if got := delivered(effs, 1); len(got) != 1 || got[0] != "msg c:" {
		t.Fatalf("subscriber of c got %v, want the clear", got)
	}
	if len(h.n.retained.byTopic) != 2 {
		t.Fatalf("%d retained topics, want 2: a clear does not pass MaxRetained", len(h.n.retained.byTopic))
	}
}
