package state

import "testing"

// The first message a link pushes on a topic counts as pushed: a push
// after it never claims it dropped unsent, even when the ring no longer
// holds it (here a ring of one; a reply to another daemon's inbox is never
// ringed at all). The simulator found the peer declaring such a reply
// lost while its push was still on the way (swarm seed 5067).
func TestTheFirstPushOnATopicIsNeverClaimedDropped(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.MessageBufferSize = 1 })
	h.start()
	h.sync("n2", "a")
	p1 := only[*Push](t, h.publish("a", "m1")) // in flight
	p2 := only[*Push](t, h.publish("a", "m2")) // the ring now holds m2 alone
	if p1.Prev != 0 || p2.Prev != 1 || p2.DroppedFrom != 0 {
		t.Fatalf("pushed #1<-%d then #2<-%d dropped-from %d, want #1<-0 then #2<-1 dropped-from 0", p1.Prev, p2.Prev, p2.DroppedFrom)
	}
}
