package sim

import (
	"testing"
	"time"

	"github.com/nexusd/nexusd/state"
)

// A retained publish pushed to a peer whose subscription its publisher
// has not heard of yet (a replication, docs/protocol.md §4.2) is chained
// like any push. It used to be numbered there outside the publisher's
// chain to the peer: the next one, or the first message routed once the
// publisher heard, then looked like a source that forgot what it sent
// (§5.2), and the peer told its subscriber of messages "lost" that were
// never meant for it. (The swarm of 20 nodes at 1500 msg/s under heavy
// faults, seed 37: n19 declared 242 numbers of a topic lost, one of them a
// replication that had reached it.)
func TestRetainedReplicationTellsNoSubscriberOfALoss(t *testing.T) {
	w, err := New(Options{Nodes: 2, Seed: 5, Net: DefaultNet(), Config: func(i int, c *state.Config) {
		c.MessageBufferSize = 1 // what was not meant for n2 is gone when it asks
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	if _, ok := w.Stabilize(30 * time.Second); !ok {
		t.Fatal("did not stabilize")
	}
	if err := w.Subscribe(2, "s", []string{"t"}, SubOptions{}); err != nil {
		t.Fatal(err)
	}
	// n1 has not heard of s yet: its publishes go to n2 as replications
	// (the retained ones) or not at all.
	for i, retain := range []bool{true, false, false, false, true, true} {
		if err := w.Publish(1, "t", []byte{byte(i)}, PublishOptions{Retain: retain}, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Stabilize(30 * time.Second) // n1 hears of s
	if err := w.Publish(1, "t", []byte("routed"), PublishOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	w.Stabilize(30 * time.Second)
	if g := w.Node(2).Status().Counters.Gaps; g != 0 {
		t.Fatalf("n2 declared %d gaps in n1's t, which sent it nothing it missed", g)
	}
	if v := w.CheckNoLoss(); len(v) > 0 {
		t.Fatal(v)
	}
}
