package state

import "testing"

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
