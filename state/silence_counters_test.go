package state

import (
	"testing"
	"time"
)

// Pins the operator's counters for a peer gone silent: suspected once at
// SuspectAfter (PeersSuspected), then dead at PeerTimeout (PeersDead).
func TestASilentPeerIsCountedSuspectedOnceThenDead(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	start := h.now.Mono
	h.at(start, h.n.cfg.SuspectAfter+time.Millisecond)
	if c := h.n.Status().Counters; c.PeersSuspected != 1 || c.PeersDead != 0 {
		t.Fatalf("after SuspectAfter: suspected=%d dead=%d, want 1 0", c.PeersSuspected, c.PeersDead)
	}
	h.at(start, h.n.cfg.PeerTimeout+time.Millisecond)
	if p := h.n.Peers(); len(p) != 0 {
		t.Fatalf("peers %+v after PeerTimeout of silence, want none", p)
	}
	if c := h.n.Status().Counters; c.PeersSuspected != 1 || c.PeersDead != 1 {
		t.Fatalf("after PeerTimeout: suspected=%d dead=%d, want 1 1", c.PeersSuspected, c.PeersDead)
	}
}
