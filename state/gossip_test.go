package state

import (
	"fmt"
	"testing"
	"time"
)

func TestNewPeerIsFetchedOnceEvenWithEmptyHash(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	f := only[*FetchState](t, h.beacon("n2", "n2:5671", 0))
	if f.Peer != "n2" || f.Addr != "n2:5671" {
		t.Fatalf("fetch %+v", f)
	}
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: "n2"}})
	h.advance(2 * time.Second)
	if len(of[*FetchState](h.beacon("n2", "n2:5671", 0))) != 0 {
		t.Fatal("a synced peer with an unchanged hash was fetched again")
	}
}

func TestHashChangeTriggersFetchAndRoutesFollow(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	h.advance(time.Second)
	hash := TopicStateHash([]string{"b/+"})
	f := only[*FetchState](t, h.beacon("n2", "n2:5671", hash))
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: "n2", Patterns: []string{"b/+"}, Hash: hash}})
	if len(of[*Push](h.publish("a", "x"))) != 0 {
		t.Error("still routing a topic the peer dropped")
	}
	if len(of[*Push](h.publish("b/c", "x"))) != 1 {
		t.Error("not routing the peer's new pattern")
	}
}

func TestStaleFetchIsRetriedUntilHashMatchesLatestBeacon(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h1 := TopicStateHash([]string{"a"})
	h2 := TopicStateHash([]string{"a", "b"})
	f := only[*FetchState](t, h.beacon("n2", "n2:5671", h1))
	h.beacon("n2", "n2:5671", h2) // changed again while the fetch is in flight
	// The answer reflects the older set: still unsynced.
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: "n2", Patterns: []string{"a"}, Hash: h1}})
	if p := h.n.Peers()[0]; p.Synced {
		t.Fatal("synced although the fetched hash differs from the latest beacon")
	}
	// Not before FetchInterval after the previous fetch started...
	if len(of[*FetchState](h.effs)) != 0 {
		t.Fatal("refetched at once; want at most one per FetchInterval")
	}
	f2 := only[*FetchState](t, h.advance(time.Second))
	h.step(&FetchCompleted{Call: f2.Call, State: &NodeState{Instance: "n2", Patterns: []string{"a", "b"}, Hash: h2}})
	if p := h.n.Peers()[0]; !p.Synced || len(p.Patterns) != 2 {
		t.Fatalf("after second fetch: %+v", p)
	}
}

func TestAtMostOneFetchInFlightPerPeer(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	only[*FetchState](t, h.beacon("n2", "n2:5671", 1))
	for i := range 5 {
		h.advance(time.Second)
		if fs := of[*FetchState](append(h.effs, h.beacon("n2", "n2:5671", uint64(i+2))...)); len(fs) != 0 {
			t.Fatalf("second fetch while the first is in flight: %v", fs)
		}
	}
}

func TestFailedFetchIsRetriedNeverForgotten(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	hash := TopicStateHash([]string{"a"})
	f := only[*FetchState](t, h.beacon("n2", "n2:5671", hash))
	for range 5 {
		h.step(&FetchCompleted{Call: f.Call, Err: errTest})
		// No beacon arrives: the retry must come from the node's own timer.
		f = only[*FetchState](t, h.advance(1100*time.Millisecond))
		h.beacon("n2", "n2:5671", hash) // keep it alive
	}
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: "n2", Patterns: []string{"a"}, Hash: hash}})
	if !h.n.Peers()[0].Synced {
		t.Fatal("not synced after the fetch finally succeeded")
	}
	if c := h.n.Status().Counters; c.FetchesFailed != 5 || c.FetchesOK != 1 {
		t.Fatalf("failed=%d ok=%d", c.FetchesFailed, c.FetchesOK)
	}
}

func TestAtMost16FetchesInFlightInTotal(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	var fetches []*FetchState
	for i := range 40 {
		id := fmt.Sprintf("p%02d", i)
		fetches = append(fetches, of[*FetchState](h.beacon(id, id+":5671", 0))...)
	}
	if len(fetches) != 16 || h.n.Status().FetchesInFlight != 16 {
		t.Fatalf("%d fetches started, want 16", len(fetches))
	}
	// Each completion lets exactly one waiting peer start, in arrival order.
	f := fetches[0]
	effs := h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: f.Peer}})
	next := only[*FetchState](t, effs)
	if next.Peer != "p16" {
		t.Fatalf("next fetch went to %s, want p16 (first to wait)", next.Peer)
	}
	// Completing everything syncs every peer, never exceeding 16 at once.
	pending := append(fetches[1:], next)
	for len(pending) > 0 {
		f, pending = pending[0], pending[1:]
		effs := h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: f.Peer}})
		pending = append(pending, of[*FetchState](effs)...)
		if n := h.n.Status().FetchesInFlight; n > 16 {
			t.Fatalf("%d in flight", n)
		}
	}
	for _, p := range h.n.Peers() {
		if !p.Synced {
			t.Fatalf("peer %s never synced", p.ID)
		}
	}
}

func TestFetchAnswerFromWrongInstanceIsNotApplied(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	f := only[*FetchState](t, h.beacon("n2", "n2:5671", TopicStateHash([]string{"a"})))
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: "n3", Patterns: []string{"a"}}})
	if h.n.Peers()[0].Synced || len(of[*Push](h.publish("a", "x"))) != 0 {
		t.Fatal("applied another instance's state")
	}
}

func TestPeerWithInvalidPatternIsSyncedButRoutesOnlyValidOnes(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a/#/b", "ok")
	p := h.n.Peers()[0]
	if !p.Synced || len(p.Patterns) != 1 || p.Patterns[0] != "ok" {
		t.Fatalf("peer %+v", p)
	}
	if h.n.Status().Counters.Rejected[reasonBadPattern] != 1 {
		t.Fatal("invalid pattern not counted")
	}
	h.advance(2 * time.Second)
	if len(of[*FetchState](h.beacon("n2", "n2:5671", TopicStateHash([]string{"a/#/b", "ok"})))) != 0 {
		t.Fatal("refetching forever because of one bad pattern")
	}
}

func TestAnswersPeersStateRequests(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 1, "b", "a/+")
	h.publish("r/1", "v", func(p *Published) { p.Retain = true })
	a := only[*AnswerState](t, h.step(&StateRequested{Req: 9}))
	st := a.State
	if a.Req != 9 || st.Instance != "n1" || st.Hash != h.n.Hash() || fmt.Sprint(st.Patterns) != "[a/+ b]" {
		t.Fatalf("state %+v", st)
	}
	if len(st.Retained) != 1 || st.Retained[0].Topic != "r/1" || string(st.Retained[0].Payload) != "v" {
		t.Fatalf("retained %+v", st.Retained)
	}
}

func TestSubscriptionChangeBringsBeaconForward(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.advance(300 * time.Millisecond)
	h.subscribe(1, 1, "a")
	effs := h.advance(150 * time.Millisecond) // BeaconMinGap is 100ms after the last beacon
	b := only[*SendBeacon](t, effs)
	if b.Hash != TopicStateHash([]string{"a"}) {
		t.Fatalf("beacon hash %016x", b.Hash)
	}
}
