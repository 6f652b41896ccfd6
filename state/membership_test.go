package state

import (
	"testing"
	"time"
)

func TestBeaconsEverySecondWithTenPercentJitter(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	var times []time.Duration
	last := h.now.Mono
	for range 200 {
		next := h.n.NextDeadline()
		h.setMono(next)
		if len(of[*SendBeacon](h.keep(h.n.Tick(h.now)))) == 1 {
			times = append(times, h.now.Mono-last)
			last = h.now.Mono
		}
	}
	var sum time.Duration
	distinct := map[time.Duration]bool{}
	for _, d := range times {
		if d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Fatalf("beacon interval %s outside 1s ±10%%", d)
		}
		sum += d
		distinct[d] = true
	}
	if mean := sum / time.Duration(len(times)); mean < 970*time.Millisecond || mean > 1030*time.Millisecond {
		t.Errorf("mean interval %s, want about 1s", mean)
	}
	if len(distinct) < len(times)/2 {
		t.Errorf("only %d distinct intervals in %d beacons: jitter is not random", len(distinct), len(times))
	}
}

func TestSameSeedSameBeaconSchedule(t *testing.T) {
	run := func() []time.Duration {
		h := newHarness(t, "n1")
		h.start()
		var out []time.Duration
		for range 20 {
			h.setMono(h.n.NextDeadline())
			h.n.Tick(h.now)
			out = append(out, h.now.Mono)
		}
		return out
	}
	a, b := run(), run()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("run 1 and 2 differ at beacon %d: %s vs %s", i, a[i], b[i])
		}
	}
}

func TestOwnAndForeignClusterBeaconsAreIgnored(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	effs := h.beacon("n1", "self:5671", 7)
	effs = append(effs, h.step(&BeaconReceived{Beacon: Beacon{Instance: "n9", Cluster: "other", Addr: "x:1", Hash: 7, Version: 1}})...)
	if len(effs) != 0 || len(h.n.Peers()) != 0 {
		t.Fatalf("ignored beacons had effects %v or made peers %v", effs, h.n.Peers())
	}
	st := h.n.Status()
	if st.Counters.BeaconsIgnored != 1 || st.Counters.Rejected[reasonForeignCluster] != 1 {
		t.Fatalf("counters: ignored=%d foreign=%d", st.Counters.BeaconsIgnored, st.Counters.Rejected[reasonForeignCluster])
	}
}

func TestSilentPeerIsSuspectedProbedThenRemoved(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	h.advance(2900 * time.Millisecond)
	if p := h.n.Peers(); len(p) != 1 || p[0].Status != Alive {
		t.Fatalf("at 2.9s: %+v", p)
	}
	effs := h.advance(200 * time.Millisecond)
	probe := only[*Probe](t, effs)
	if p := h.n.Peers(); p[0].Status != Suspected {
		t.Fatalf("at 3.1s status %v, want suspected", p[0].Status)
	}
	h.step(&ProbeCompleted{Call: probe.Call, Err: errTest})
	effs = h.advance(1800 * time.Millisecond) // 4.9s of silence
	if len(of[*ClosePeer](effs)) != 0 || len(h.n.Peers()) != 1 {
		t.Fatalf("removed before PeerTimeout")
	}
	effs = h.advance(200 * time.Millisecond)
	if c := only[*ClosePeer](t, effs); c.Peer != "n2" {
		t.Fatalf("closed %v", c)
	}
	if len(h.n.Peers()) != 0 {
		t.Fatalf("dead peer still listed: %+v", h.n.Peers())
	}
	// Its routes are gone with it.
	if len(of[*Push](h.publish("a", "x"))) != 0 {
		t.Fatal("still routing to a dead peer")
	}
}

func TestSuspectedPeerThatAnswersTheProbeStaysAlive(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "a")
	for round := range 3 { // beacons lost for 9 s, probes answered
		effs := h.advance(3100 * time.Millisecond)
		probe := only[*Probe](t, effs)
		h.step(&ProbeCompleted{Call: probe.Call})
		if p := h.n.Peers(); len(p) != 1 || p[0].Status != Alive {
			t.Fatalf("round %d: peer %+v, want alive after answering", round, p)
		}
	}
	if len(of[*Push](h.publish("a", "x"))) != 1 {
		t.Fatal("a probed-alive peer lost its routes")
	}
}

func TestBeaconRevivesSuspectedPeer(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2")
	h.advance(3500 * time.Millisecond)
	h.beacon("n2", "n2:5671", 0)
	if p := h.n.Peers(); p[0].Status != Alive {
		t.Fatalf("status %v after a beacon", p[0].Status)
	}
	h.advance(4 * time.Second) // 4 s after the beacon: suspected, not dead
	if len(h.n.Peers()) != 1 {
		t.Fatal("peer removed 4 s after its last beacon")
	}
}

func TestNewInstanceAtKnownEndpointReplacesOldPeerAtOnce(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("old", "a")
	effs := h.beacon("new", "old:5671", 0) // same address as "old"
	if c := only[*ClosePeer](t, effs); c.Peer != "old" {
		t.Fatalf("closed %v", c)
	}
	peers := h.n.Peers()
	if len(peers) != 1 || peers[0].ID != "new" {
		t.Fatalf("peers %+v", peers)
	}
	if only[*FetchState](t, effs).Peer != "new" {
		t.Fatal("the new instance is not fetched")
	}
	if h.n.Status().Counters.PeersReplaced != 1 {
		t.Fatal("replacement not counted")
	}
}

func TestProbeResultForRemovedPeerIsIgnored(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2")
	probe := only[*Probe](t, h.advance(3100*time.Millisecond))
	h.advance(2 * time.Second) // dead and removed
	h.step(&ProbeCompleted{Call: probe.Call})
	if len(h.n.Peers()) != 0 {
		t.Fatal("a late probe answer brought a removed peer back")
	}
}
