package state

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// Message TTL (docs/protocol.md §7.3): ttl_ms, else the node's
// default, measured from timestamp_ms; expired messages are never handed
// out or replayed, and are counted and reported.

func TestMessageTTLIsMeasuredFromThePublishTimestamp(t *testing.T) {
	const (
		live    = "msg t#1 p"
		expired = "warning ttl_expired dropped=0 expired=1 depth=0/10000"
	)
	cases := []struct {
		name       string
		ttlMs      int64
		defaultTTL time.Duration
		creditAt   time.Duration
		want       string
	}{
		{"own ttl, just before", 100, 0, 99 * time.Millisecond, live},
		{"own ttl, at expiry", 100, 0, 100 * time.Millisecond, expired},
		{"default ttl, just before", 0, 200 * time.Millisecond, 199 * time.Millisecond, live},
		{"default ttl, at expiry", 0, 200 * time.Millisecond, 200 * time.Millisecond, expired},
		{"own ttl wins over default", 50, 200 * time.Millisecond, 50 * time.Millisecond, expired},
		{"own ttl longer than default", 500, 200 * time.Millisecond, 300 * time.Millisecond, live},
		{"no ttl at all", 0, 0, time.Hour, live},
		{"ttl past the end of time", math.MaxInt64, 0, time.Hour, live}, // timestamp + ttl would overflow
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "n1", func(c *Config) { c.DefaultTTL = tc.defaultTTL })
			h.start()
			h.fullSub(1, 0, PolicyDefault, "t")
			start := h.now.Mono
			h.publish("t", "p", withTTL(tc.ttlMs))
			h.at(start, tc.creditAt)
			checkLog(t, h.grant(1, 10), 1, tc.want)
			wantExpired := uint64(0)
			if tc.want == expired {
				wantExpired = 1
			}
			if got := h.n.Status().Counters.Expired; got != wantExpired {
				t.Fatalf("Counters.Expired = %d, want %d", got, wantExpired)
			}
		})
	}
}

func TestTTLFollowsTheWallClock(t *testing.T) {
	t.Run("wall clock jumps while the message waits", func(t *testing.T) {
		h := newHarness(t, "n1")
		h.start()
		h.fullSub(1, 0, PolicyDefault, "t")
		h.publish("t", "p", withTTL(1000))
		h.now.WallMs += 1000 // the monotonic clock does not move
		checkLog(t, h.grant(1, 10), 1, "warning ttl_expired dropped=0 expired=1 depth=0/10000")
	})
	t.Run("remote message stamped long ago", func(t *testing.T) {
		h := newHarness(t, "n1")
		h.start()
		h.sync("n2")
		h.subscribe(1, 10, "t")
		old := h.envFrom("n2", "t", 1)
		old.TTLMs = 1000
		old.TimestampMs = h.now.WallMs - 1000 // expired the moment it arrives
		fresh := h.envFrom("n2", "t", 2)
		fresh.TTLMs = 1000
		fresh.TimestampMs = h.now.WallMs - 999
		effs := h.pushFrom("n2", old, fresh)
		// The expired one is numbered, so the subscriber is told it expired.
		checkLog(t, effs, 1, "warning ttl_expired dropped=0 expired=1 depth=0/10000", "msg t#2 m2")
		if got := h.n.Status().Counters.Expired; got != 1 {
			t.Fatalf("Counters.Expired = %d, want 1", got)
		}
	})
}

func TestExpiredMessagesAreNeverReplayed(t *testing.T) {
	h, id := pausedAfter(t, nil)
	h.publish("a/x", "p3", withTTL(100))
	h.publish("a/x", "p4")
	h.publish("a/x", "p5", withTTL(100))
	h.publish("a/x", "p6", withTTL(300))
	h.advance(200 * time.Millisecond)
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 100})
	checkLog(t, effs, 2,
		"info gap missed=2 replay",
		"replay a/x#4 p4", "replay a/x#6 p6", "replay-complete a/x count=2 latest=6")
}

func TestReplayThatExpiresBeforeHandOutIsNotReplayedNorCounted(t *testing.T) {
	h, id := pausedAfter(t, nil)
	h.publish("a/x", "p3", withTTL(100))
	h.publish("a/x", "p4")
	effs := h.step(&Resumed{Stream: 2, SubID: id, LastSeq: map[string]uint64{"a/x": 2}, Mode: RecoverReplay, Credit: 1})
	checkLog(t, effs, 2, "info replay")
	h.advance(100 * time.Millisecond)
	checkLog(t, h.grant(2, 10), 2,
		"replay a/x#4 p4", "replay-complete a/x count=1 latest=4",
		"warning ttl_expired dropped=0 expired=1 depth=0/10000")
	if c := h.n.Status().Counters; c.Replayed != 1 || c.Expired != 1 {
		t.Fatalf("Replayed=%d Expired=%d, want 1, 1", c.Replayed, c.Expired)
	}
}

func TestExpiredMessagesAreCountedAndReportedWithCumulativeTotals(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.fullSub(1, 3, DropOldest, "t")
	start := h.now.Mono
	for i := 1; i <= 5; i++ {
		h.publish("t", fmt.Sprint("p", i), withTTL(100))
	}
	h.at(start, 100*time.Millisecond)
	// The warning for the drops goes first; the three expired in the queue
	// are reported once WarningInterval has passed since.
	checkLog(t, h.grant(1, 10), 1, "warning slow_consumer dropped=2 expired=0 depth=3/3")
	if effs := h.at(start, 1100*time.Millisecond-time.Millisecond); len(warningsOf(effs, 1)) != 0 {
		t.Fatalf("second warning within WarningInterval:\n%s", describe(effs))
	}
	checkLog(t, h.at(start, 1100*time.Millisecond), 1, "warning ttl_expired dropped=2 expired=3 depth=0/3")
	if c := h.n.Status().Counters; c.Expired != 3 || c.Dropped != 2 || c.DeliveredLocal != 0 {
		t.Fatalf("Expired=%d Dropped=%d DeliveredLocal=%d, want 3, 2, 0", c.Expired, c.Dropped, c.DeliveredLocal)
	}
}

func TestReapFreesExpiredMessagesWithoutAnyNewPublish(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.ReapInterval = time.Second })
	h.start()
	id := h.fullSub(1, 0, PolicyDefault, "t")
	start := h.now.Mono
	h.publish("t", "expires1", withTTL(500))
	h.publish("t", "stays", withTTL(0))
	h.publish("t", "expires2", withTTL(500))
	o := 1 + msgOverheadBytes // topic "t"
	if st := h.n.Status(); st.BufferedMsgs != 3 || st.BufferedBytes != 21+3*o || st.QueuedMsgs != 3 {
		t.Fatalf("before: BufferedMsgs=%d BufferedBytes=%d QueuedMsgs=%d, want 3, %d, 3", st.BufferedMsgs, st.BufferedBytes, st.QueuedMsgs, 21+3*o)
	}
	h.at(start, time.Second-time.Millisecond)
	if st := h.n.Status(); st.BufferedMsgs != 3 {
		t.Fatalf("reaped before ReapInterval: BufferedMsgs=%d", st.BufferedMsgs)
	}
	h.at(start, time.Second)
	st := h.n.Status()
	if st.BufferedMsgs != 1 || st.BufferedBytes != 5+o || st.QueuedMsgs != 1 || st.Counters.Expired != 2 {
		t.Fatalf("after reap: BufferedMsgs=%d BufferedBytes=%d QueuedMsgs=%d Expired=%d, want 1, %d, 1, 2",
			st.BufferedMsgs, st.BufferedBytes, st.QueuedMsgs, st.Counters.Expired, 5+o)
	}
	if got := h.ringSeqs("t"); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("ring %v, want [2]", got)
	}
	if s := h.subStatus(id); s.Expired != 2 {
		t.Fatalf("subscription Expired = %d, want 2", s.Expired)
	}
}

func TestMessageThatExpiresDuringRepairIsNotDelivered(t *testing.T) {
	cases := []struct {
		name        string
		ttlOf       uint64 // which of n2's messages 2 and 3 has a 100ms TTL
		wantLog     []string
		wantExpired uint64
	}{
		{"held behind the hole", 3, []string{"msg t#1 m1", "msg t#2 m2", "warning ttl_expired dropped=0 expired=1 depth=0/10000"}, 1},
		{"resent", 2, []string{"msg t#1 m1", "warning ttl_expired dropped=0 expired=1 depth=0/10000", "msg t#3 m3"}, 1},
		{"neither", 0, []string{"msg t#1 m1", "msg t#2 m2", "msg t#3 m3"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := repairHarness(t)
			env := func(seq uint64) Envelope {
				e := h.envFrom("n2", "t", seq)
				if seq == tc.ttlOf {
					e.TTLMs = 100
				}
				return e
			}
			start := h.now.Mono
			missing := env(2) // stamped now, resent later
			effs := h.pushFrom("n2", env(1), env(3))
			req := only[*RequestResend](t, h.at(start, 50*time.Millisecond))
			h.at(start, 150*time.Millisecond) // the resend is slow
			effs = append(effs, h.step(&ResendCompleted{Call: req.Call, Reply: &ResendReply{Instance: "n2", Msgs: []Envelope{missing}, FirstAvailable: 1}})...)
			checkLog(t, effs, 1, tc.wantLog...)
			if c := h.n.Status().Counters; c.Expired != tc.wantExpired {
				t.Fatalf("Counters.Expired = %d, want %d", c.Expired, tc.wantExpired)
			}
		})
	}
}
