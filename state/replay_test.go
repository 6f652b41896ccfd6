package state

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The per-topic replay ring (SPEC 3): at most MessageBufferSize messages
// per topic, MaxBufferBytes of payload in all, oldest message of the node
// evicted first.

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
	if st.BufferedMsgs != 4 || st.BufferedBytes != 8 || st.Counters.BufferEvicted != 4 {
		t.Fatalf("BufferedMsgs=%d BufferedBytes=%d BufferEvicted=%d, want 4, 8, 4",
			st.BufferedMsgs, st.BufferedBytes, st.Counters.BufferEvicted)
	}
}

func TestRingByteCapEvictsTheNodesOldestMessageAcrossTopics(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MaxBufferBytes = 10 })
	h.start()
	steps := []struct {
		topic, payload string
		ringA, ringB   []uint64
		bytes          int
	}{
		{"a", "aaaa", []uint64{1}, nil, 4},
		{"a", "aaaa", []uint64{1, 2}, nil, 8},
		{"b", "bbbb", []uint64{2}, []uint64{1}, 8},         // a#1 was the node's oldest
		{"b", "bb", []uint64{2}, []uint64{1, 2}, 10},       // exactly at the cap: nothing goes
		{"a", "a", []uint64{3}, []uint64{1, 2}, 7},         // a#2 is oldest, though a is the topic written
		{"b", "bbbbbbbbbb", nil, []uint64{3}, 10},          // as large as the cap: all older ones go
		{"b", "bbb", nil, []uint64{4}, 3},                  // b#3 goes for b#4
		{"a", "aaaaaaa", []uint64{4}, []uint64{4}, 10},     // a's numbering went on through the evictions
		{"a", "a", []uint64{4, 5}, nil, 8},                 // b#4 was older than a#4
		{"c", strings.Repeat("c", 3), []uint64{5}, nil, 4}, // a#4 goes for a third topic
	}
	for i, s := range steps {
		h.publish(s.topic, s.payload)
		ringA, ringB := h.ringSeqs("a"), h.ringSeqs("b")
		if !slices.Equal(ringA, s.ringA) || !slices.Equal(ringB, s.ringB) {
			t.Fatalf("step %d (%s %q): rings a=%v b=%v, want a=%v b=%v", i, s.topic, s.payload, ringA, ringB, s.ringA, s.ringB)
		}
		if got := h.n.Status().BufferedBytes; got != s.bytes {
			t.Fatalf("step %d: BufferedBytes = %d, want %d", i, got, s.bytes)
		}
	}
}

func TestBufferedBytesStaysUnderTheCap(t *testing.T) {
	const capBytes = 1000
	h := newHarness(t, "n1", func(c *Config) { c.MaxBufferBytes = capBytes; c.MessageBufferSize = 50 })
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
					sum += len(tt.ring.at(j).Payload)
				}
			}
		}
		if sum != st.BufferedBytes {
			t.Fatalf("after publish %d: rings hold %d bytes, Status says %d", i, sum, st.BufferedBytes)
		}
		maxSeen = max(maxSeen, st.BufferedBytes)
	}
	if maxSeen < capBytes-150 {
		t.Fatalf("BufferedBytes peaked at %d: the cap was never approached", maxSeen)
	}
}
