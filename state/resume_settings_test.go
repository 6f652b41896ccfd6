package state

import "testing"

// A subscription opened again by its topics (its daemon no longer knew
// it) takes the settings the client gives, as a new one would.
func TestResumeByTopicsTakesTheGivenSettings(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.step(&Resumed{Stream: 1, Patterns: []string{"a"}, Mode: RecoverReplay, Credit: 1,
		ClientID: "app-1", QueueLimit: 7, Policy: Block})
	subs := h.n.Subscriptions()
	if len(subs) != 1 {
		t.Fatalf("subscriptions %+v", subs)
	}
	if s := subs[0]; s.ClientID != "app-1" || s.Limit != 7 || s.Policy != Block {
		t.Fatalf("resumed by topics with %+v, want client app-1, limit 7, block", s)
	}
}
