package state

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The per-topic replay ring (docs/protocol.md §8): at most MessageBufferSize messages
// per topic, RingBytes in all (what each message costs: memory.go), oldest
// message of the node evicted first.

func TestRingKeepsTheLastMessageBufferSizeMessagesPerTopic(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MessageBufferSize = 3 })
	h.start()
	for i := 1; i <= 7; i++ {
		h.publish("a", fmt.Sprint("a", i))
	}
	h.publish("b", "b1")
	if got, want := h.ringSeqs("a"), []uint64{5, 6, 7}; !slices.Equal(got, want) {
		t.Fatalf("ring a = %v, want %v", got, want)
	}
	if got, want := h.ringSeqs("b"), []uint64{1}; !slices.Equal(got, want) {
		t.Fatalf("ring b = %v, want %v", got, want)
	}
	st := h.n.Status()
	wantBytes := 3*(2+1+msgOverheadBytes) + (2 + 1 + msgOverheadBytes)
	if st.BufferedMsgs != 4 || st.BufferedBytes != wantBytes || st.Counters.BufferEvicted != 4 {
		t.Fatalf("BufferedMsgs=%d BufferedBytes=%d BufferEvicted=%d, want 4, %d, 4",
			st.BufferedMsgs, st.BufferedBytes, st.Counters.BufferEvicted, wantBytes)
	}
}

// The byte cap counts what each message costs (payload, topic, overhead:
// memory.go) and lets the node's oldest message go first, whatever its
// topic, until the rings fit; a message exactly at the cap evicts nothing.
func TestRingByteCapEvictsTheNodesOldestMessageAcrossTopics(t *testing.T) {
	o := msgOverheadBytes + 1 // one-byte topics
	capBytes := 10 + 2*o
	h := newHarness(t, "n1", func(c *Config) { c.RingBytes = capBytes })
	h.start()
	type held struct {
		topic string
		seq   uint64
		cost  int
	}
	var model []held // what the rings should hold, oldest first
	seqs := map[string]uint64{}
	sizes := []int{4, 4, 4, 2, 1, 10, 3, 7, 1, 3, 0, 6}
	for i, size := range sizes {
		topic := []string{"a", "a", "b", "b", "a", "b", "b", "a", "a", "c", "c", "a"}[i]
		h.publish(topic, strings.Repeat(topic, size))
		seqs[topic]++
		model = append(model, held{topic, seqs[topic], size + o})
		total := 0
		for _, m := range model {
			total += m.cost
		}
		for total > capBytes {
			total -= model[0].cost
			model = model[1:]
		}
		for _, topic := range []string{"a", "b", "c"} {
			var want []uint64
			for _, m := range model {
				if m.topic == topic {
					want = append(want, m.seq)
				}
			}
			if got := h.ringSeqs(topic); !slices.Equal(got, want) {
				t.Fatalf("step %d (%s, %d bytes): ring %s = %v, want %v", i, topic, size, topic, got, want)
			}
		}
		if got := h.n.Status().BufferedBytes; got != total {
			t.Fatalf("step %d: BufferedBytes = %d, want %d", i, got, total)
		}
	}
}

func TestBufferedBytesStaysUnderTheCap(t *testing.T) {
	const capBytes = 10 * (msgOverheadBytes + 100)
	h := newHarness(t, "n1", func(c *Config) { c.RingBytes = capBytes; c.MessageBufferSize = 50 })
	h.start()
	topics := []string{"t/a", "t/b", "t/c"}
	maxSeen := 0
	for i := range 2000 {
		size := (i*37)%150 + 1
		h.publish(topics[i%len(topics)], strings.Repeat("x", size))
		st := h.n.Status()
		if st.BufferedBytes > capBytes {
			t.Fatalf("after publish %d: BufferedBytes %d > cap %d", i, st.BufferedBytes, capBytes)
		}
		sum := 0
		for _, topic := range topics {
			if tt := h.n.topics.get(topic); tt != nil {
				if tt.ring.len() > 50 {
					t.Fatalf("ring %s holds %d > 50", topic, tt.ring.len())
				}
				for j := 0; j < tt.ring.len(); j++ {
					sum += tt.ring.at(j).cost()
				}
			}
		}
		if sum != st.BufferedBytes {
			t.Fatalf("after publish %d: rings hold %d bytes, Status says %d", i, sum, st.BufferedBytes)
		}
		maxSeen = max(maxSeen, st.BufferedBytes)
	}
	if maxSeen < capBytes-150-msgOverheadBytes {
		t.Fatalf("BufferedBytes peaked at %d: the cap was never approached", maxSeen)
	}
}
