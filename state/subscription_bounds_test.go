package state

import (
	"testing"
	"time"
)

// Bounds a subscription request is held to (docs/protocol.md §7.2, §8).

// A resume window asked for beyond PausedTTL is cut to PausedTTL: a
// subscription whose stream breaks is kept paused no longer than that.
func TestAResumeWindowPastPausedTTLIsCutToPausedTTL(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	ttl := h.n.cfg.PausedTTL
	id := h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 1, ResumeWindow: ttl + time.Hour})
	h.step(&StreamClosed{Stream: 1})
	if st := h.subStatus(id); !st.Paused || st.PausedFor != ttl {
		t.Fatalf("Paused=%v PausedFor=%s, want paused for %s", st.Paused, st.PausedFor, ttl)
	}
}

// A subscription asking for negative byte credit is refused with an
// invalid-argument error on its stream, as one asking for negative
// event credit is.
func TestNegativeByteCreditIsRefused(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	effs := h.step(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 1, CreditBytes: -1})
	if e := only[*EndStream](t, effs); CodeOf(e.Err) != Invalid {
		t.Fatalf("stream ended with %v, want an invalid-argument error", e.Err)
	}
	if n := len(h.n.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions, want none", n)
	}
}
