package state

import (
	"fmt"
	"testing"
	"time"
)

// Graceful leave (leave.go): a stopping node says so once, and its peers
// drop exactly that instance at once.

// leaveBeacon is instance id's leave beacon from addr; counter > 0 makes it
// a member's, numbered (1, counter).
func (h *harness) leaveBeacon(id, addr string, counter uint64) []Effect {
	b := Beacon{Instance: id, Cluster: "test", Addr: addr, Version: 1, WallMs: h.now.WallMs, Leaving: true}
	if counter > 0 {
		b.Member, b.Epoch, b.Counter = true, 1, counter
	}
	return h.step(&BeaconReceived{Beacon: b})
}

func TestALeavingNodeSendsOneLeaveBeaconAndThenNone(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	if b := only[*SendBeacon](t, h.step(&Leaving{})); !b.Leaving {
		t.Fatalf("the leave sent %s, want a leave beacon", b)
	}
	if effs := h.step(&Leaving{}); len(effs) != 0 {
		t.Fatalf("a second Leaving did something:\n%s", describe(effs))
	}
	h.publish("a", "x") // a hash change would bring a beacon forward
	h.step(&Subscribed{Stream: 1, Patterns: []string{"b"}, Credit: 10})
	if n := len(of[*SendBeacon](h.advance(10 * time.Second))); n != 0 {
		t.Fatalf("%d beacons sent after the leave", n)
	}
}

func TestAPeerThatLeavesIsRemovedAtOnceLikeADeadOne(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	if c := only[*ClosePeer](t, h.leaveBeacon("n2", "n2:5671", 0)); c.Peer != "n2" {
		t.Fatalf("closed %v", c)
	}
	if p := h.n.Peers(); len(p) != 0 {
		t.Fatalf("peers after the leave: %+v", p)
	}
	if effs := h.publish("a", "after"); len(of[*Push](effs)) != 0 {
		t.Fatal("pushed to a peer that left")
	}
	c := h.n.Status().Counters
	if c.PeersLeft != 1 || c.PeersDead != 0 || c.PeersSuspected != 0 {
		t.Fatalf("left=%d dead=%d suspected=%d, want 1 0 0", c.PeersLeft, c.PeersDead, c.PeersSuspected)
	}
	if c.RecordedForDeparted != 1 {
		t.Fatalf("recorded for departed %d, want 1: what it was routed is kept as for a dead peer", c.RecordedForDeparted)
	}
}

func TestALeaveRemovesOnlyItsInstanceWhereItIsKnown(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	for _, b := range []struct{ id, addr string }{
		{"stranger", "stranger:5671"}, // not a peer: not admitted
		{"n2", "elsewhere:5671"},      // not where n2 lives: no claim either
	} {
		if effs := h.leaveBeacon(b.id, b.addr, 0); len(effs) != 0 {
			t.Fatalf("leave of %s at %s did something:\n%s", b.id, b.addr, describe(effs))
		}
	}
	if p := h.n.Peers(); len(p) != 1 || p[0].ID != "n2" || p[0].Status != Alive {
		t.Fatalf("peers %+v, want n2 alive", p)
	}
	if c := h.n.Status().Counters; c.LeavesIgnored != 2 || c.PeersLeft != 0 || c.AddrConflicts != 0 {
		t.Fatalf("ignored=%d left=%d conflicts=%d, want 2 0 0", c.LeavesIgnored, c.PeersLeft, c.AddrConflicts)
	}
}

// Instance ids are new on every start: the leave of the instance a restart
// replaced names no live peer.
func TestAnOldInstancesLeaveDoesNotRemoveTheNewOne(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("old", "a")
	h.beacon("new", "old:5671", 0) // the restart, at the same address
	if effs := h.leaveBeacon("old", "old:5671", 0); len(effs) != 0 {
		t.Fatalf("the old instance's leave did something:\n%s", describe(effs))
	}
	if p := h.n.Peers(); len(p) != 1 || p[0].ID != "new" {
		t.Fatalf("peers %+v, want the new instance", p)
	}
}

// Among members a leave is a beacon like any other: one not newer than
// the last beacon taken from its instance is a replay and removes nothing;
// after a real leave, the instance's earlier beacons played again do not
// bring it back.
func TestAReplayedLeaveDoesNotRemoveALiveMember(t *testing.T) {
	h := newHarness(t, "n1", members)
	h.start()
	h.member("m", "m:5671", 5)
	for _, c := range []uint64{5, 3} {
		if effs := h.leaveBeacon("m", "m:5671", c); len(effs) != 0 {
			t.Fatalf("a leave numbered %d (last taken 5) did something:\n%s", c, describe(effs))
		}
	}
	if p := h.n.Peers(); len(p) != 1 || p[0].Status != Alive {
		t.Fatalf("peers %+v, want m alive", p)
	}
	if got := h.n.Status().Counters.Rejected[reasonReplayed]; got != 2 {
		t.Fatalf("replayed=%d, want 2", got)
	}
	if len(of[*ClosePeer](h.leaveBeacon("m", "m:5671", 6))) != 1 || len(h.n.Peers()) != 0 {
		t.Fatal("a fresh leave did not remove the member")
	}
	h.member("m", "m:5671", 5) // captured before the leave
	if len(h.n.Peers()) != 0 {
		t.Fatal("a beacon from before the leave brought the member back")
	}
	if c := h.n.Status().Counters; c.PeersLeft != 1 || c.Rejected[reasonReplayed] != 3 {
		t.Fatalf("left=%d replayed=%d, want 1 3", c.PeersLeft, c.Rejected[reasonReplayed])
	}
}

// The mesh notice (LeaveNoticed) removes the peer it names as its leave
// beacon would, when the call comes from the host the peer is known at.
func TestALeaveNoticeRemovesThePeerAtOnce(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	if c := only[*ClosePeer](t, h.step(&LeaveNoticed{Instance: "n2", From: "n2:40123"})); c.Peer != "n2" {
		t.Fatalf("closed %v", c)
	}
	if p := h.n.Peers(); len(p) != 0 {
		t.Fatalf("peers after the notice: %+v", p)
	}
	if effs := h.publish("a", "after"); len(of[*Push](effs)) != 0 {
		t.Fatal("pushed to a peer that left")
	}
	c := h.n.Status().Counters
	if c.PeersLeft != 1 || c.PeersDead != 0 || c.LeavesIgnored != 0 || c.RecordedForDeparted != 1 {
		t.Fatalf("left=%d dead=%d ignored=%d recorded=%d, want 1 0 0 1", c.PeersLeft, c.PeersDead, c.LeavesIgnored, c.RecordedForDeparted)
	}
	// The beacon that follows the notice names a peer gone already.
	if effs := h.leaveBeacon("n2", "n2:5671", 0); len(effs) != 0 {
		t.Fatalf("the leave beacon after the notice did something:\n%s", describe(effs))
	}
}

// A notice naming no peer, or called from elsewhere than the peer it
// names, changes nothing and is counted.
func TestALeaveNoticeFromTheWrongCallerChangesNothing(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	for _, e := range []LeaveNoticed{
		{Instance: "stranger", From: "stranger:40123"}, // not a peer
		{Instance: "n2", From: "elsewhere:40123"},      // not n2's host
		{Instance: "n2", From: ""},                     // no caller address
		{Instance: "", From: "n2:40123"},               // no instance
	} {
		if effs := h.step(&e); len(effs) != 0 {
			t.Fatalf("%s did something:\n%s", &e, describe(effs))
		}
	}
	if p := h.n.Peers(); len(p) != 1 || p[0].ID != "n2" || p[0].Status != Alive {
		t.Fatalf("peers %+v, want n2 alive", p)
	}
	if c := h.n.Status().Counters; c.LeavesIgnored != 4 || c.PeersLeft != 0 {
		t.Fatalf("ignored=%d left=%d, want 4 0", c.LeavesIgnored, c.PeersLeft)
	}
}

// A beacon the peer sent just before it left can land after its leave:
// the mesh notice outruns a datagram. It does not bring the peer back,
// even a member's beacon that is fresh (never taken); it is counted. After
// PeerTimeout the instance is let go, so a leave that was not its own costs
// a live peer no more than silence would.
func TestABeaconLandingAfterTheLeaveDoesNotBringThePeerBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   []func(*Config)
		join   func(h *harness)
		leave  func(h *harness)
		beacon func(h *harness)
	}{
		{"a member's notice, then its fresh beacon", []func(*Config){members},
			func(h *harness) { h.member("m", "m:5671", 5) },
			func(h *harness) { h.step(&LeaveNoticed{Instance: "m", From: "m:40123"}) },
			func(h *harness) { h.member("m", "m:5671", 6) }},
		{"a notice, then a beacon without a key", nil,
			func(h *harness) { h.sync("m", "a") },
			func(h *harness) { h.step(&LeaveNoticed{Instance: "m", From: "m:40123"}) },
			func(h *harness) { h.beacon("m", "m:5671", 0) }},
		{"a leave beacon, then an earlier beacon without a key", nil,
			func(h *harness) { h.sync("m", "a") },
			func(h *harness) { h.leaveBeacon("m", "m:5671", 0) },
			func(h *harness) { h.beacon("m", "m:5671", 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, "n1", tc.opts...)
			h.start()
			tc.join(h)
			tc.leave(h)
			if len(h.n.Peers()) != 0 {
				t.Fatal("the leave did not remove the peer")
			}
			tc.beacon(h)
			if p := h.n.Peers(); len(p) != 0 {
				t.Fatalf("peers after a beacon that landed after the leave: %+v", p)
			}
			if c := h.n.Status().Counters; c.Rejected[reasonAfterLeave] != 1 || c.PeersLeft != 1 {
				t.Fatalf("after_leave=%d left=%d, want 1 1", c.Rejected[reasonAfterLeave], c.PeersLeft)
			}
			h.advance(h.n.cfg.PeerTimeout)
			tc.beacon(h)
			if p := h.n.Peers(); len(p) != 1 || p[0].ID != "m" {
				t.Fatalf("peers a PeerTimeout after the leave: %+v, want m back", p)
			}
		})
	}
}

// At most maxPeers left instances are held out, the oldest let go first.
func TestHeldOutInstancesAreBounded(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	for i := range maxPeers + 10 {
		h.n.holdOut(fmt.Sprintf("i%d", i))
	}
	if len(h.n.leftAt) > maxPeers || h.n.leftOrder.len() > maxPeers {
		t.Fatalf("%d held (%d in order), want at most %d", len(h.n.leftAt), h.n.leftOrder.len(), maxPeers)
	}
	if h.n.heldOut("i0") || !h.n.heldOut(fmt.Sprintf("i%d", maxPeers+9)) {
		t.Fatal("want the oldest let go and the newest held")
	}
}
