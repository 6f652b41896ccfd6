package state

import (
	"testing"
	"time"
)

// A retained value pushed by a peer for a new topic is refused, and
// counted, once the node holds MaxRetained topics, as a local one is:
// the count is a hard cap, not one past it.
func TestARemoteRetainedValueForANewTopicIsRefusedAtMaxRetained(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxRetained = 2 })
	h.start()
	h.publish("a", "1", retain)
	h.publish("b", "1", retain)
	h.step(&PushReceived{Req: 1, Envs: []Envelope{{ID: "x", Topic: "c", Payload: []byte("1"), Source: "n2", Retain: true, TimestampMs: h.now.WallMs}}})
	if m := h.n.Retained("c"); m != nil {
		t.Fatalf("topic c retained %q past MaxRetained 2", m.Payload)
	}
	if got := h.n.Status().Counters.Rejected[reasonRetainedLimit]; got != 1 || len(h.n.retained.byTopic) != 2 {
		t.Fatalf("Rejected[%s] = %d with %d topics held, want 1 with 2", reasonRetainedLimit, got, len(h.n.retained.byTopic))
	}
}

// A retained value from a peer that brings the store to exactly
// MaxRetainedBytes fits: the cap is what may be held, not one byte less.
func TestARemoteRetainedValueFillingMaxRetainedBytesExactlyIsStored(t *testing.T) {
	o := 1 + msgOverheadBytes // one-byte topics
	h := newHarness(t, "n1", func(c *Config) { c.MaxRetainedBytes = 10 + 2*o })
	h.start()
	h.publish("a", "123456", retain)
	h.step(&PushReceived{Req: 1, Envs: []Envelope{{ID: "x", Topic: "c", Payload: []byte("1234"), Source: "n2", Retain: true, TimestampMs: h.now.WallMs}}})
	if m := h.n.Retained("c"); m == nil || string(m.Payload) != "1234" {
		t.Fatalf("topic c retained %v, want the value that fills the store exactly", m)
	}
	if got := h.n.Status().Counters.Rejected[reasonRetainedLimit]; got != 0 {
		t.Fatalf("Rejected[%s] = %d, want 0", reasonRetainedLimit, got)
	}
}

// A retained value no larger than the one it replaces always fits, even
// while the node is over its budget in the middle of a step (a push whose
// earlier message the rings have not yet given way for).
func TestARetainedValueNoLargerThanTheOneItReplacesFitsWhileOverBudget(t *testing.T) {
	c := oneCost("big", string(mib))
	dedup := newHarness(t, "n0").n.Memory().Total // fixed: the dedup filter
	h := newHarness(t, "n1", func(cfg *Config) { cfg.BudgetBytes = dedup + c/2 })
	h.start()
	h.subscribe(1, 100, "#")
	h.publish("cfg", "v1", retain)
	now := h.now.WallMs
	h.step(&PushReceived{Req: 1, Envs: []Envelope{
		{ID: "big", Topic: "big", Payload: mib, Source: "n2", SourceSeq: 1, TimestampMs: now},
		{ID: "v2", Topic: "cfg", Payload: []byte("v2"), Source: "n2", SourceSeq: 2, Retain: true, TimestampMs: now + 1},
	}})
	if m := h.n.Retained("cfg"); m == nil || string(m.Payload) != "v2" {
		t.Fatalf("retained %v, want v2, which is no larger than v1", m)
	}
	if got := h.n.Status().Counters.Rejected[reasonBudget]; got != 0 {
		t.Fatalf("Rejected[%s] = %d, want 0", reasonBudget, got)
	}
}

// The node's state lists a retained value whose TTL has run out as the
// tombstone it is about to become (same identity, no payload), even
// before the reaper has made it one.
func TestNodeStateListsAnExpiredRetainedValueAsItsTombstone(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.publish("cfg/a", "1", retain, withTTL(1000))
	id := h.n.retained.byTopic["cfg/a"].ID
	h.setMono(h.now.Mono + 1500*time.Millisecond)
	st := only[*AnswerState](t, h.step(&StateRequested{Req: 1})).State // no tick: the reaper has not run
	if len(st.Retained) != 1 || st.Retained[0].ID != id || len(st.Retained[0].Payload) != 0 || st.Retained[0].TTLMs != 0 {
		t.Fatalf("state lists %+v, want cfg/a's tombstone: id %s, no payload, no TTL", st.Retained, id)
	}
}

// sweptTombstone clears topic t's retained value on a fresh node and runs
// the sweep once, which notes the tombstone; it returns the node and when
// the sweep first saw the tombstone.
func sweptTombstone(t *testing.T) (*harness, time.Duration) {
	t.Helper()
	h := newHarness(t, "n1")
	h.start()
	h.publish("t", "1", retain)
	h.publish("t", "", retain)
	h.advance(h.n.cfg.ReapInterval)
	since, seen := h.n.retained.tombSince["t"]
	if !seen {
		t.Fatal("the sweep did not note the tombstone")
	}
	return h, since
}

// A tombstone is forgotten by the sweep that finds it has been held for
// exactly TombstoneTTL, not one sweep later.
func TestATombstoneIsForgottenExactlyTombstoneTTLAfterTheSweepFirstSawIt(t *testing.T) {
	h, since := sweptTombstone(t)
	h.at(since, h.n.cfg.TombstoneTTL-time.Millisecond)
	if h.n.retained.byTopic["t"] == nil {
		t.Fatal("tombstone forgotten before TombstoneTTL")
	}
	h.at(since, h.n.cfg.TombstoneTTL)
	if m := h.n.retained.byTopic["t"]; m != nil {
		t.Fatalf("tombstone %v still held TombstoneTTL after the sweep first saw it", m)
	}
}

// A topic cleared, set again and cleared again keeps its new tombstone
// for a full TombstoneTTL from when the sweep first saw that one: the
// first tombstone's time is forgotten when a value replaces it.
func TestATombstoneReplacedAndClearedAgainGetsAFullTombstoneTTL(t *testing.T) {
	h, since := sweptTombstone(t)
	h.at(since, h.n.cfg.TombstoneTTL-2*time.Second)
	h.publish("t", "2", retain)
	h.publish("t", "", retain)
	h.advance(3 * h.n.cfg.ReapInterval)
	if m := h.n.retained.byTopic["t"]; m == nil || len(m.Payload) != 0 {
		t.Fatalf("held %v, want the second clear's tombstone, seen for a few seconds only", m)
	}
}
