package state

import (
	"fmt"
	"testing"
)

// A link whose peer takes pushes more slowly than they come is busy while
// any are in flight or waiting, backed up once half of its backlog limit
// waits, and neither once it drains;
// a link resting after its stream broke does not (a gone peer must not
// stop the node's publishers).
func TestPeersBackedUpWhileALiveLinkHoldsHalfItsBacklog(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.PushWindow, c.PeerBacklogLimit = 2, 10 })
	h.start()
	h.sync("n2", "a")
	var pushes []*Push
	for i := range 6 {
		if h.n.PeersBackedUp() {
			t.Fatalf("backed up after %d publishes: 2 in flight and %d waiting of 10", i, max(i-2, 0))
		}
		if busy := h.n.PeersBusy(); busy != (i > 0) {
			t.Fatalf("after %d publishes (%d in flight, %d waiting): PeersBusy %v", i, min(i, 2), max(i-2, 0), busy)
		}
		pushes = append(pushes, of[*Push](h.publish("a", fmt.Sprint("m", i)))...)
	}
	// 2 in flight, 4 waiting: one more makes 5 waiting, half of 10.
	h.publish("a", "m6")
	if !h.n.PeersBackedUp() {
		t.Fatal("5 of 10 pushes wait for a working link: want back pressure")
	}
	// The peer answers: the backlog drains and the pressure goes.
	for len(pushes) > 0 {
		p := pushes[0]
		pushes = append(pushes[1:], of[*Push](h.step(&PushCompleted{Call: p.Call}))...)
	}
	if h.n.PeersBackedUp() || h.n.PeersBusy() {
		t.Fatal("still backed up, or busy, after every push was answered")
	}

	// A broken stream rests the link: however much waits, no pressure.
	var inflight []*Push
	for i := range 8 {
		inflight = append(inflight, of[*Push](h.publish("a", fmt.Sprint("r", i)))...)
	}
	for _, p := range inflight {
		h.step(&PushCompleted{Call: p.Call, Err: errTest})
	}
	if h.n.PeersBackedUp() || h.n.PeersBusy() {
		t.Fatal("a resting link (its stream broke) holds publishers back")
	}
}
