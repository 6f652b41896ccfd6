package state

import (
	"slices"
	"testing"
)

func TestEvictedTopicNumbersOnAboveWhereItWas(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxTopics = 1 })
	h.start()
	h.sync("n2", "#")
	var seqs []uint64
	pub := func(topic string) {
		p := only[*Push](t, h.publish(topic, "x"))
		if topic == "a" {
			seqs = append(seqs, p.Msg.SourceSeq)
		}
	}
	pub("a")
	pub("a")
	pub("b") // evicts a's state
	pub("a") // evicts b's, recreates a
	if seqs[2] <= seqs[1] {
		t.Fatalf("a numbered %v: went back after its state was evicted", seqs)
	}
}

func TestLateMessageBehindWhatWasTakenInIsNeverDeliveredAgain(t *testing.T) {
	h := repairHarness(t)
	checkLog(t, h.pushSeqs(1, 2, 3), 1, "msg t#1 m1", "msg t#2 m2", "msg t#3 m3")
	late := h.envFrom("n2", "t", 1)
	late.ID = "another-copy" // past the id window, only its number tells
	late.PrevSeq = 0
	checkLog(t, h.pushFrom("n2", late), 1)
	if c := h.n.Status().Counters; c.Late != 1 {
		t.Fatalf("Late = %d, want 1", c.Late)
	}
}

// A topic someone subscribes to keeps its state when the topic table is
// full: the least recently used topic nobody wants goes instead, so the
// subscriber's numbering runs on and its replay ring stays.
func TestTopicTableEvictsTopicsNobodyWantsFirst(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxTopics = 2 })
	h.start()
	h.subscribe(1, 100, "a")
	var got []uint64
	for _, topic := range []string{"a", "a", "b", "c", "a"} {
		got = append(got, seqsOf(h.publish(topic, "x"), 1)...)
	}
	if !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("subscriber to a got sequence numbers %v, want [1 2 3]", got)
	}
	if ring := h.ringSeqs("a"); !slices.Equal(ring, []uint64{1, 2, 3}) {
		t.Fatalf("a's ring holds %v, want [1 2 3]", ring)
	}
}

// Even when every topic is wanted and one must go, a subscriber's
// sequence numbers never go back when its topic is seen again.
func TestEvictedTopicDeliveryNumbersNeverGoBack(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxTopics = 1 })
	h.start()
	h.subscribe(1, 100, "#")
	var a []uint64
	for _, topic := range []string{"a", "a", "b", "a"} {
		for _, o := range outsOf(h.publish(topic, "x"), 1) {
			if o.Msg != nil && o.Msg.Topic == "a" {
				a = append(a, o.Msg.Seq)
			}
		}
	}
	if len(a) != 3 || a[2] <= a[1] {
		t.Fatalf("a delivered with sequence numbers %v: went back after its state was evicted", a)
	}
}
