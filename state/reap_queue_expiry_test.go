package state

import "testing"

// Pins that the sweep drops a queued message whose TTL ends exactly at the
// sweep's time: a message expires at timestamp+TTL, not a millisecond
// after, and its subscriber's loss is counted then.
func TestTheSweepDropsAQueuedMessageExpiringExactlyAtItsTime(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 0, "a") // no credit: the message waits in the queue
	ttl := h.n.cfg.ReapInterval
	h.publish("a", "x", withTTL(ttl.Milliseconds()))
	start := h.now.Mono
	h.at(start, ttl) // the first sweep, exactly at the message's expiry
	if got := h.n.Status().Counters.Expired; got != 1 {
		t.Fatalf("Expired %d at timestamp+TTL, want 1", got)
	}
}
