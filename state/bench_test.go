package state

import (
	"fmt"
	"testing"
	"time"
)

// Benchmarks of the core's publish path. Each op is one local publish; the
// deliveries/s metric counts messages handed to subscription streams.
// `make bench-core` runs them; BENCHMARKS.md records the figures.

func benchNode(b *testing.B, subs int, pattern string, extraPatterns int) *harness {
	b.Helper()
	h := newHarness(b, "bench", func(c *Config) {
		c.MaxSubscriptions = 20000
		c.MaxPatterns = 20000
	})
	h.start()
	for i := range subs {
		h.n.Step(h.now, &Subscribed{Stream: uint64(i + 1), Patterns: []string{pattern}, Policy: PolicyDefault, Credit: 1 << 30})
	}
	// Unrelated patterns installed alongside, as on a busy node.
	for i := 0; i < extraPatterns; i += maxPatternsPerSub {
		var pats []string
		for j := i; j < min(i+maxPatternsPerSub, extraPatterns); j++ {
			pats = append(pats, fmt.Sprintf("other/%d/+/x", j))
		}
		h.n.Step(h.now, &Subscribed{Stream: uint64(1_000_000 + i), Patterns: pats, Policy: PolicyDefault, Credit: 1})
	}
	return h
}

func runPublish(b *testing.B, h *harness, subs int) {
	b.Helper()
	payload := make([]byte, 128)
	ev := &Published{Topic: "bench/topic", Payload: payload}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		ev.Req = uint64(i)
		effs := h.n.Step(h.now, ev)
		if len(effs) != subs+1 {
			b.Fatalf("publish %d: %d effects, want %d", i, len(effs), subs+1)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N*subs)/elapsed.Seconds(), "deliveries/s")
}

func BenchmarkPublishLocal(b *testing.B) {
	for _, tc := range []struct {
		subs    int
		pattern string
		extra   int
	}{
		{1, "bench/topic", 0},
		{100, "bench/topic", 0},
		{1, "bench/+", 0},
		{100, "bench/#", 0},
		{1, "bench/topic", 10000},
		{100, "bench/+", 10000},
	} {
		name := fmt.Sprintf("subs=%d/pattern=%s/installed=%d", tc.subs, tc.pattern, tc.extra)
		b.Run(name, func(b *testing.B) {
			h := benchNode(b, tc.subs, tc.pattern, tc.extra)
			runPublish(b, h, tc.subs)
		})
	}
}

// BenchmarkPublishOneSlow: N subscriptions on one topic, one of which
// never takes anything (its queue is full and drops its oldest on every
// publish); the others keep up. The slow one must not make a publish cost
// more than one more queue operation.
func BenchmarkPublishOneSlow(b *testing.B) {
	for _, subs := range []int{1, 10, 1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			h := newHarness(b, "bench", func(c *Config) { c.MaxSubscriptions = 2000; c.QueueLimit = 1000 })
			h.start()
			h.n.Step(h.now, &Subscribed{Stream: 1, Patterns: []string{"bench/topic"}, Policy: DropOldest, Credit: 0})
			for i := 1; i < subs; i++ {
				h.n.Step(h.now, &Subscribed{Stream: uint64(i + 1), Patterns: []string{"bench/topic"}, Policy: PolicyDefault, Credit: 1 << 30})
			}
			ev := &Published{Topic: "bench/topic", Payload: make([]byte, 128)}
			for range 2000 { // fill the slow queue first
				h.n.Step(h.now, ev)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				ev.Req = uint64(i)
				h.n.Step(h.now, ev)
			}
			b.ReportMetric(float64(b.N*(subs-1))/time.Since(start).Seconds(), "deliveries/s")
			for _, st := range h.n.Subscriptions() {
				if st.Queued > 1000 {
					b.Fatalf("subscription %s holds %d queued, limit 1000", st.ID, st.Queued)
				}
			}
		})
	}
}

// BenchmarkCheckInvariants: one full invariant walk of a node that holds a
// typical load: 100 synced peers, 8 topics with full rings (1024 messages
// each), 10 subscriptions with 100 messages queued each, and a tracked
// stream per peer and topic. The simulator runs it every 128 steps of a
// node (or twice its peer count), CheckBounds after every step; the daemon
// runs neither.
func BenchmarkCheckInvariants(b *testing.B) {
	h := newHarness(b, "bench")
	h.start()
	for p := range 100 {
		id := fmt.Sprintf("p%03d", p)
		h.n.Step(h.now, &BeaconReceived{Beacon: Beacon{Instance: id, Cluster: "test", Addr: id + ":1", Hash: 0, Version: 1}})
		for t := range 8 {
			h.n.Step(h.now, &PushReceived{Req: 1, Envs: []Envelope{{ID: fmt.Sprintf("%s-%d", id, t), Topic: fmt.Sprintf("t/%d", t),
				Payload: []byte("x"), Source: id, SourceSeq: 1, TimestampMs: h.now.WallMs}}})
		}
	}
	for s := range 10 {
		h.n.Step(h.now, &Subscribed{Stream: uint64(s + 1), Patterns: []string{"t/#"}, Policy: PolicyDefault, Credit: 0})
	}
	payload := make([]byte, 128)
	for i := range 8 * 1024 {
		h.n.Step(h.now, &Published{Req: uint64(i), Topic: fmt.Sprintf("t/%d", i%8), Payload: payload})
	}
	if err := h.n.CheckInvariants(); err != nil {
		b.Fatal(err)
	}
	b.Run("full", func(b *testing.B) {
		for range b.N {
			h.n.CheckInvariants()
		}
	})
	b.Run("bounds", func(b *testing.B) {
		for range b.N {
			h.n.CheckBounds()
		}
	})
}
