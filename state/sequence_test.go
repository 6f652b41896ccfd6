package state

import (
	"slices"
	"testing"
)

// Per-topic delivery sequence numbers (docs/protocol.md §5, §8).

func TestSequenceNumbersCountFromOnePerTopicIndependently(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 100, "#")
	var effs []Effect
	for _, topic := range []string{"a", "a", "b", "a", "c", "b", "a"} {
		effs = append(effs, h.publish(topic, topic)...)
	}
	checkLog(t, effs, 1,
		"msg a#1 a", "msg a#2 a", "msg b#1 b", "msg a#3 a", "msg c#1 c", "msg b#2 b", "msg a#4 a")
	for topic, want := range map[string]uint64{"a": 4, "b": 2, "c": 1, "d": 0} {
		if got := h.n.TopicSeq(topic); got != want {
			t.Errorf("TopicSeq(%q) = %d, want %d", topic, got, want)
		}
	}
}

func TestSequenceNumbersAreNotResetByRingEviction(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
	}{
		{"count cap", func(c *Config) { c.MessageBufferSize = 2 }},
		{"byte cap", func(c *Config) { c.RingBytes = 3 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "n1", tc.mod)
			h.start()
			h.subscribe(1, 100, "a")
			var effs []Effect
			for range 6 {
				effs = append(effs, h.publish("a", "xx")...)
			}
			if got, want := seqsOf(effs, 1), seqRange(1, 6); !slices.Equal(got, want) {
				t.Fatalf("seqs %v, want %v", got, want)
			}
			if got := h.n.TopicSeq("a"); got != 6 {
				t.Fatalf("TopicSeq = %d, want 6", got)
			}
			if h.n.Status().Counters.BufferEvicted == 0 {
				t.Fatalf("nothing was evicted, so the test shows nothing")
			}
		})
	}
}

func TestRemoteMessagesAreNumberedByTheReceivingNode(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2")
	h.subscribe(1, 100, "a")
	var effs []Effect
	effs = append(effs, h.publish("a", "local1")...)
	e := h.envFrom("n2", "a", 41) // the source's own number means nothing here
	e.PrevSeq = 0                 // the first message n2 sends us on a
	e.Payload = []byte("remote41")
	effs = append(effs, h.pushFrom("n2", e)...)
	effs = append(effs, h.publish("a", "local2")...)
	e = h.envFrom("n2", "a", 42)
	e.Payload = []byte("remote42")
	effs = append(effs, h.pushFrom("n2", e)...)
	checkLog(t, effs, 1, "msg a#1 local1", "msg a#2 remote41", "msg a#3 local2", "msg a#4 remote42")
	for _, o := range outsOf(effs, 1) {
		if o.Msg.Source == "n2" && o.Msg.SourceSeq != 41 && o.Msg.SourceSeq != 42 {
			t.Fatalf("source sequence rewritten: %+v", o.Msg.Envelope)
		}
	}
}
