package state

import (
	"fmt"
	"testing"
	"time"
)

// killPeer lets a synced peer go silent until it is declared dead.
func (h *harness) killPeer(t *testing.T, id string) {
	t.Helper()
	probe := only[*Probe](t, h.advance(3100*time.Millisecond))
	h.step(&ProbeCompleted{Call: probe.Call, Err: errTest})
	if c := only[*ClosePeer](t, h.advance(2*time.Second)); c.Peer != id {
		t.Fatalf("closed %s, want %s", c.Peer, id)
	}
}

func TestDeadPeerGetsWhatItMissedWhenItReturns(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	first := only[*Push](t, h.publish("a", "before"))
	h.step(&PushCompleted{Call: first.Call})
	h.killPeer(t, "n2")
	for i := range 2 {
		if effs := h.publish("a", fmt.Sprint("while-dead-", i)); len(of[*Push](effs)) != 0 {
			t.Fatal("pushed to a dead peer")
		}
	}
	// n2 was only cut off: the same instance comes back.
	effs := h.beacon("n2", "n2:5671", TopicStateHash([]string{"a"}))
	var got []string
	for _, p := range of[*Push](effs) {
		got = append(got, fmt.Sprintf("%s#%d<-%d", p.Msg.Payload, p.Msg.SourceSeq, p.Prev))
	}
	if fmt.Sprint(got) != "[while-dead-0#2<-1 while-dead-1#3<-2]" {
		t.Fatalf("on return pushed %v", got)
	}
	if h.n.Status().Counters.RecordedForDeparted != 2 {
		t.Fatal("not counted")
	}
}

// A peer back from the dead is routed to by its last known patterns until
// its state is fetched again: what is published between its return and
// that fetch reaches it, chained to what it missed, instead of being
// passed over (and the next push's predecessor skipping it silently).
func TestReturnedPeerKeepsItsRoutesUntilFetchedAgain(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	h.killPeer(t, "n2")
	h.publish("a", "while-dead")
	effs := h.beacon("n2", "n2:5671", TopicStateHash([]string{"a"}))
	if len(of[*FetchState](effs)) != 1 {
		t.Fatal("a returning peer is not fetched again")
	}
	effs = h.publish("a", "before-fetch")
	p := only[*Push](t, effs)
	if string(p.Msg.Payload) != "before-fetch" || p.Prev != 1 {
		t.Fatalf("published before the fetch: pushed %s#%d<-%d, want before-fetch#2<-1", p.Msg.Payload, p.Msg.SourceSeq, p.Prev)
	}
	if pub := only[*CompletePublish](t, effs); pub.Result.Subscribers != 1 {
		t.Fatalf("the returned peer is not counted as a subscriber: %+v", pub.Result)
	}
}

func TestRestartedPeerIsNotSentWhatItsOldInstanceMissed(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	h.killPeer(t, "n2")
	h.publish("a", "while-dead")
	effs := h.beacon("n2-new", "n2:5671", 0) // a new process at the same address
	if n := len(of[*Push](effs)); n != 0 {
		t.Fatalf("%d pushes to a new instance for its predecessor's subscriptions", n)
	}
	if h.n.chains["n2"] != nil {
		t.Fatal("kept the replaced instance's chain")
	}
}

func TestDepartedPeerIsForgottenAfterDepartedRetention(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.DepartedRetention = 10 * time.Second })
	h.start()
	h.sync("n2", "a")
	h.killPeer(t, "n2")
	h.publish("a", "while-dead")
	h.advance(11 * time.Second)
	if h.n.chains["n2"] != nil {
		t.Fatal("a peer dead for longer than DepartedRetention is still remembered")
	}
	if n := len(of[*Push](h.beacon("n2", "n2:5671", 0))); n != 0 {
		t.Fatalf("%d pushes of what it missed long ago", n)
	}
}

// A peer that keeps dying and coming back leaves an entry in the order of
// departures for every death. Those entries must not count against the
// cap on chains kept for the dead, or they push out a peer still away and
// what it missed with it (seen at 1000 nodes: a node cut off from the
// whole mesh after peers had flapped lost what it kept for them).
func TestFlappingPeerDoesNotPushOutOneStillAway(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	h.killPeer(t, "n2")
	h.publish("a", "while-away")
	h.sync("n3", "b")
	for range 2*maxDeparted + 10 { // past the point where stale entries are swept
		h.n.removePeer(h.n.peers.get("n3"), true)
		h.beacon("n3", "n3:5671", TopicStateHash([]string{"b"}))
	}
	effs := h.beacon("n2", "n2:5671", TopicStateHash([]string{"a"}))
	if p := of[*Push](effs); len(p) != 1 || string(p[0].Msg.Payload) != "while-away" {
		t.Fatalf("n2 came back to %d pushes, want what it missed", len(p))
	}
}
