package state

import (
	"fmt"
	"testing"
	"time"
)

// Admission (admit.go; docs/protocol.md §2.3, §10.3, §10.5): members only, no replays, no flood
// of made-up ids, and a peer's address follows only a peer that answers.

// member is a beacon that proved the cluster key, numbered (1, counter).
func (h *harness) member(id, addr string, counter uint64) []Effect {
	return h.step(&BeaconReceived{Beacon: Beacon{Instance: id, Cluster: "test", Addr: addr, Hash: 0, Version: 1,
		WallMs: h.now.WallMs, Member: true, Epoch: 1, Counter: counter}})
}

func members(c *Config) { c.Members = true }

func TestANonMemberBeaconTriggersNothing(t *testing.T) {
	h := newHarness(t, "n1", members)
	h.start()
	for range 3 {
		if effs := h.beacon("x", "x:5671", 42); len(effs) != 0 {
			t.Fatalf("a beacon without the key did something:\n%s", describe(effs))
		}
	}
	st := h.n.Status()
	if st.PeersAlive != 0 || st.Counters.Rejected[reasonNotMember] != 3 || st.Counters.BeaconsReceived != 0 {
		t.Fatalf("peers %d, not_member %d, received %d: want 0, 3, 0", st.PeersAlive, st.Counters.Rejected[reasonNotMember], st.Counters.BeaconsReceived)
	}
	if only[*FetchState](t, h.member("m", "m:5671", 1)).Peer != "m" {
		t.Fatal("a member's beacon is not fetched")
	}
}

func TestAReplayedMemberBeaconIsRefused(t *testing.T) {
	h := newHarness(t, "n1", members)
	h.start()
	h.member("m", "m:5671", 5)
	for _, c := range []uint64{5, 4} {
		h.member("m", "m:5671", c)
	}
	if got := h.n.Status().Counters.Rejected[reasonReplayed]; got != 2 {
		t.Fatalf("replayed=%d, want 2 (the same counter and a lower one)", got)
	}
	h.member("m", "m:5671", 6)
	if got := h.n.Status().Counters.Rejected[reasonReplayed]; got != 2 {
		t.Fatalf("a newer beacon was refused as a replay")
	}
}

// A captured beacon replayed over and over does not keep a stopped member
// alive: it is suspected and removed on schedule, and the replay does not
// bring it back either.
func TestReplayedBeaconsDoNotKeepAStoppedMemberAlive(t *testing.T) {
	h := newHarness(t, "n1", members)
	h.start()
	f := only[*FetchState](t, h.member("m", "m:5671", 1))
	h.step(&FetchCompleted{Call: f.Call, State: &NodeState{Instance: "m", Hash: 0}})
	last := uint64(1)
	for range 3 { // alive: a beacon a second
		h.advance(time.Second)
		last++
		h.member("m", "m:5671", last)
	}
	var removedAt time.Duration
	for i := range 10 { // stopped: only the last beacon, replayed
		for _, e := range h.advance(time.Second) {
			switch e := e.(type) {
			case *Probe:
				h.step(&ProbeCompleted{Call: e.Call, Err: errTest})
			case *ClosePeer:
				removedAt = time.Duration(i+1) * time.Second
			}
		}
		if effs := h.member("m", "m:5671", last); len(of[*FetchState](effs)) != 0 {
			t.Fatal("a replayed beacon made the node fetch")
		}
	}
	if removedAt == 0 || removedAt > 6*time.Second || h.n.Status().PeersAlive+h.n.Status().PeersSuspected != 0 {
		t.Fatalf("removed after %s of replays (peers now %d): want removal by PeerTimeout and no return", removedAt, h.n.Status().PeersAlive)
	}
}

// A flood of made-up ids from one address admits at most NewPeerBurst of
// them, and a real node elsewhere is admitted at once while it runs.
func TestAFloodOfNewIDsFromOneAddressIsBounded(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	for i := range 1000 {
		h.beacon(fmt.Sprintf("fake-%d", i), fmt.Sprintf("6.6.6.6:%d", 1000+i), 0)
	}
	h.beacon("real", "10.0.0.2:5671", 0)
	if !h.n.KnowsPeer("real") {
		t.Fatal("the real node was not admitted during the flood")
	}
	st := h.n.Status()
	if st.PeersAlive != 65 || st.Counters.Rejected[reasonNewPeerRate] != 1000-64 {
		t.Fatalf("peers %d, new_peer_rate %d: want 64 fakes and the real node, the rest refused", st.PeersAlive, st.Counters.Rejected[reasonNewPeerRate])
	}
	h.advance(time.Second)
	h.beacon("fake-late", "6.6.6.6:9999", 0)
	h.beacon("fake-later", "6.6.6.6:9998", 0)
	if got := h.n.Status().PeersAlive; got > 65+8 {
		t.Fatalf("%d peers a second later: the address refills at NewPeerRate", got)
	}
}

// A beacon naming a live peer at another address is a conflict: reported
// once, and the peer stays where it is.
func TestALivePeerClaimedAtAnotherAddressStaysWhereItIs(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	effs := h.beacon("n2", "evil:5671", TopicStateHash([]string{"a"}))
	if c := only[*AddressConflict](t, effs); c.Addr != "n2:5671" || c.Claimed != "evil:5671" {
		t.Fatalf("reported %v", c)
	}
	if effs := h.beacon("n2", "evil:5671", 0); len(effs) != 0 {
		t.Fatalf("the same claim again did something:\n%s", describe(effs))
	}
	if p := only[*Push](t, h.publish("a", "x")); p.Addr != "n2:5671" {
		t.Fatalf("pushed to %s: the claim redirected traffic", p.Addr)
	}
	if h.n.Status().Counters.AddrConflicts != 1 {
		t.Fatal("conflict not counted")
	}
}

// A peer silent at its address and claimed at another moves there only
// once the instance answers there.
func TestASilentPeerMovesOnlyOnceItAnswersAtTheNewAddress(t *testing.T) {
	for _, answers := range []bool{false, true} {
		t.Run(fmt.Sprint("answers=", answers), func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.sync("n2", "a")
			only[*Probe](t, h.advance(3100*time.Millisecond)) // suspected where it was
			effs := h.beacon("n2", "new:5671", TopicStateHash([]string{"a"}))
			probe := only[*Probe](t, effs)
			if !probe.Move || probe.Addr != "new:5671" {
				t.Fatalf("probed %+v, want the claimed address, as a move", probe)
			}
			var err error
			if !answers {
				err = errTest
			}
			h.step(&ProbeCompleted{Call: probe.Call, Err: err})
			want := "n2:5671"
			if answers {
				want = "new:5671"
			}
			if p := only[*Push](t, h.publish("a", "x")); p.Addr != want {
				t.Fatalf("pushed to %s, want %s", p.Addr, want)
			}
		})
	}
}
