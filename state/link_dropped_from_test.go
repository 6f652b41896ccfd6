package state

import (
	"fmt"
	"testing"
)

// droppedCase publishes m1..m4 on "a" to n2 with one push in flight and
// a backlog of one: m1 is answered, m2 is in flight when m3 waits and m4
// sheds m3 from the backlog. It lets m2's push complete and returns the
// push of m4 that follows.
func droppedCase(t *testing.T, ring int) *Push {
	h := newHarness(t, "n1", func(c *Config) { c.PushWindow = 1; c.PeerBacklogLimit = 1; c.MessageBufferSize = ring })
	h.start()
	h.sync("n2", "a")
	h.step(&PushCompleted{Call: only[*Push](t, h.publish("a", "m1")).Call})
	p2 := only[*Push](t, h.publish("a", "m2"))
	h.publish("a", "m3")
	h.publish("a", "m4") // sheds m3
	return only[*Push](t, h.step(&PushCompleted{Call: p2.Call}))
}

// A push after numbers shed unsent from the backlog tells the peer they
// are lost (DroppedFrom) exactly when our ring no longer holds any of
// them: with a ring of one (m4 only) the one number shed, m3, is claimed
// lost; with a ring of two it still holds m3, so the peer is left to ask.
func TestAPushClaimsTheNumbersShedBeforeItLostOnlyWhenTheRingHoldsNoneOfThem(t *testing.T) {
	for _, c := range []struct{ ring, want int }{{1, 3}, {2, 0}} {
		t.Run(fmt.Sprint("ring ", c.ring), func(t *testing.T) {
			p := droppedCase(t, c.ring)
			if p.Msg.SourceSeq != 4 || p.Prev != 3 || p.DroppedFrom != uint64(c.want) {
				t.Fatalf("pushed #%d<-%d dropped-from %d, want #4<-3 dropped-from %d", p.Msg.SourceSeq, p.Prev, p.DroppedFrom, c.want)
			}
		})
	}
}

// A chain forgotten (MaxStreams topics reached) and begun again knows
// nothing below the first number routed since: what it claims lost starts
// there, never at numbers pushed before the forgetting.
func TestAForgottenChainClaimsNothingLostBelowItsNewFirstNumber(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) {
		c.PushWindow, c.PeerBacklogLimit, c.MessageBufferSize, c.MaxStreams = 1, 1, 1, 2
	})
	h.start()
	h.sync("n2", "#")
	p1 := only[*Push](t, h.publish("a", "a1")) // in flight
	h.publish("b", "b1")                       // waits
	h.publish("a", "a2")                       // two topics: the chain starts again at a#2; sheds b1
	h.publish("a", "a3")                       // sheds a2
	p := only[*Push](t, h.step(&PushCompleted{Call: p1.Call}))
	if p.Msg.SourceSeq != 3 || p.Prev != 2 || p.DroppedFrom != 2 {
		t.Fatalf("pushed a#%d<-%d dropped-from %d, want a#3<-2 dropped-from 2", p.Msg.SourceSeq, p.Prev, p.DroppedFrom)
	}
}
