package state

import (
	"slices"
	"testing"
	"time"
)

// Heartbeats (docs/protocol.md §7.2): an idle subscription stream gets a heartbeat every
// 30 s.

// heartbeatTimes runs the clock from start to start+until and returns when,
// relative to start, stream got heartbeats. At each offset in publishAt a
// message is published to topic t.
func heartbeatTimes(h *harness, stream uint64, start, until time.Duration, publishAt ...time.Duration) []time.Duration {
	h.t.Helper()
	var at []time.Duration
	note := func(effs []Effect) {
		for _, o := range outsOf(effs, stream) {
			if o.Kind == OutHeartbeat {
				if o.WallMs != h.now.WallMs {
					h.t.Fatalf("heartbeat stamped %d at wall time %d", o.WallMs, h.now.WallMs)
				}
				at = append(at, h.now.Mono-start)
			}
		}
	}
	for _, p := range publishAt {
		h.runUntil(start+p, note)
		if got := len(payloads(h.publish("t", "x"), stream)); got != 1 {
			h.t.Fatalf("publish at %s reached stream %d %d times", p, stream, got)
		}
	}
	h.runUntil(start+until, note)
	return at
}

func TestIdleStreamGetsAHeartbeatEveryHeartbeatInterval(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	start := h.now.Mono
	h.subscribe(1, 100, "t") // its info is the last activity
	if got := heartbeatTimes(h, 1, start, 30*time.Second-time.Millisecond); len(got) != 0 {
		t.Fatalf("heartbeats before 30s of idleness: %v", got)
	}
	got := heartbeatTimes(h, 1, start, 95*time.Second)
	if want := []time.Duration{30 * time.Second, 60 * time.Second, 90 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("heartbeats at %v, want %v", got, want)
	}
	if c := h.n.Status().Counters; c.Heartbeats != 3 {
		t.Fatalf("Counters.Heartbeats = %d, want 3", c.Heartbeats)
	}
}

func TestActivityPostponesTheHeartbeat(t *testing.T) {
	cases := []struct {
		name      string
		publishAt []time.Duration
		want      []time.Duration
	}{
		{"one message", []time.Duration{20 * time.Second}, []time.Duration{50 * time.Second, 80 * time.Second}},
		{"a message just before it was due", []time.Duration{30*time.Second - time.Millisecond}, []time.Duration{60*time.Second - time.Millisecond, 90*time.Second - time.Millisecond}},
		{"steady traffic", []time.Duration{10 * time.Second, 35 * time.Second, 60 * time.Second}, []time.Duration{90 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			start := h.now.Mono
			h.subscribe(1, 100, "t")
			got := heartbeatTimes(h, 1, start, 100*time.Second, tc.publishAt...)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("heartbeats at %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStreamWithoutCreditGetsNoHeartbeat(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	start := h.now.Mono
	h.fullSub(1, 0, PolicyDefault, "t") // its one credit went to the info
	effs := h.at(start, 5*time.Minute)
	if n := len(outsOf(effs, 1)); n != 0 {
		t.Fatalf("%d events on a stream without credit:\n%s", n, describe(effs))
	}
}
