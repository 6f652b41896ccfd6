package state

import "testing"

// Runs of publishes to this node's own inbox (inbox.go matchInbox) reach
// the same subscriptions as the same publishes stepped one by one.

// ownInboxRun publishes a run of n messages to this node's own inbox.
func ownInboxRun(w *twin, n int) []Effect {
	pubs := make([]Published, n)
	for i := range pubs {
		w.batched.req++
		pubs[i] = Published{Req: w.batched.req, Topic: "_inbox/n1/c1/1", Payload: []byte("r")}
	}
	return w.frame(pubs)
}

// A subscription with two patterns matching our inbox topic gets each
// message of a run once.
func TestAnOwnInboxRunReachesASubscriptionOnceWhateverItsPatterns(t *testing.T) {
	w := newTwin(t)
	w.both("subscribe", func(h *harness) []Effect {
		h.subscribe(1, 100, "_inbox/n1/#", "_inbox/+/c1/#")
		return nil
	})
	if got := payloads(ownInboxRun(w, 3), 1); len(got) != 3 {
		t.Fatalf("the subscription got %d messages of a run of 3", len(got))
	}
}

// A paused subscription gets nothing of a run to our inbox.
func TestAnOwnInboxRunSkipsAPausedSubscription(t *testing.T) {
	w := newTwin(t)
	w.both("subscribe and pause", func(h *harness) []Effect {
		h.pause(h.subscribe(1, 100, "_inbox/n1/#"))
		return nil
	})
	if got := delivered(ownInboxRun(w, 3), 1); len(got) != 0 {
		t.Fatalf("a paused subscription got %v", got)
	}
}
