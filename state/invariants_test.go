package state

import (
	"strings"
	"testing"
)

// CheckInvariants must see what it claims to: each case corrupts one thing
// from inside, and the check must name it. (Every state test's harness runs
// the check after every step, so a node that breaks one fails there.)
func TestInvariantCheckCatchesPlantedCorruption(t *testing.T) {
	cases := []struct {
		name  string
		plant func(h *harness)
		want  string
	}{
		{"bytes charged to nothing", func(h *harness) { h.n.charge(memQueues, 100) }, "queue charged"},
		{"a queued message not charged", func(h *harness) {
			s := h.n.subs[h.subID]
			s.queue.pushBack(h.n.topics.get("t").ring.at(0))
		}, "charged 0 bytes, holds"},
		{"negative credit", func(h *harness) { h.n.subs[h.subID].credit = -1 }, "credit -1"},
		{"in flight miscounted", func(h *harness) { h.n.peers.get("n2").link.inflight++ }, "in flight counted"},
		{"held out of order", func(h *harness) {
			s := h.n.inStreams.m[streamKey{"n2", "t"}]
			a, b := h.envFrom("n2", "t", 9), h.envFrom("n2", "t", 8)
			for _, e := range []Envelope{a, b} {
				m := &Message{Envelope: e}
				h.n.holdBytes(m)
				s.held = append(s.held, m)
			}
		}, "held messages out of order"},
		{"a stream's numbers unaccounted", func(h *harness) { h.n.inStreams.m[streamKey{"n2", "t"}].delivered++ }, "passed"},
		{"ring over its cap", func(h *harness) { h.n.cfg.RingBytes = 1 }, "rings"},
		{"a pattern miscounted", func(h *harness) { h.n.patternRefs["t"]++ }, "pattern t"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.sync("n2", "t")
			h.subscribe(1, 1000, "t")
			h.pushSeqs(1)
			h.publish("t", "x")
			h.subID = h.n.Subscriptions()[0].ID
			if err := h.n.CheckInvariants(); err != nil {
				t.Fatalf("broken before the plant: %v", err)
			}
			tc.plant(h)
			err := h.n.CheckInvariants()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("after planting %q: %v, want an error mentioning %q", tc.name, err, tc.want)
			}
		})
	}
}
