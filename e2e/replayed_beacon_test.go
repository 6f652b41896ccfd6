package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
)

// TestReplayedBeaconsDoNotKeepAStoppedNodeAlive: beacons of a keyed daemon
// captured off the group and sent again, over and over, after it stopped
// (from its own address and from another) keep nothing alive: its peer
// suspects it and removes it on the schedule a silent peer gets, each
// replay is dropped and counted as replayed, and a removed peer is not
// brought back by them.
func TestReplayedBeaconsDoNotKeepAStoppedNodeAlive(t *testing.T) {
	testnet.Require(t)
	const (
		beaconInterval = 200 * time.Millisecond
		suspectAfter   = time.Second
		peerTimeout    = 2 * time.Second
	)
	cluster, port := newCluster(t)
	file := keyFile(t, newKey(t))
	timers := []string{"--beacon-interval", beaconInterval.String(), "--suspect-after", suspectAfter.String(), "--peer-timeout", peerTimeout.String()}
	tap := tapGroup(t, port)
	a, b := keyedPair(t, cluster, port, file, timers...)

	caught := tap.from(b.id, 5, 5*time.Second)
	b.Kill()
	killed := time.Now()
	fromB, fromElsewhere := groupSender(t, "0.0.0.0", port), groupSender(t, "127.0.0.77", port)
	stop := repeat(t, 20*time.Millisecond, func(i int) {
		c := caught[i%len(caught)]
		fromB.Write(c.data)
		fromElsewhere.Write(c.data)
	})

	var suspected, removed time.Duration
	testnet.Eventually(t, peerTimeout+3*time.Second, "a removes b", func() error {
		p, err := a.peer(b.id)
		switch {
		case err != nil:
			return err
		case p == nil:
			removed = time.Since(killed)
			return nil
		case p.GetStatus() == "suspected" && suspected == 0:
			suspected = time.Since(killed)
		}
		return fmt.Errorf("a sees b %s", p.GetStatus())
	})
	replays := dropped(a.Daemon, "replayed")
	t.Logf("replaying %d captured beacons every 20 ms from two addresses: b suspected after %s, removed after %s; %v replays dropped",
		len(caught), suspected.Round(time.Millisecond), removed.Round(time.Millisecond), replays)
	if suspected == 0 {
		t.Errorf("b was removed without being seen suspected first")
	}
	// As TestKilledDaemonIsSuspectedThenRemovedAndRediscovered: its last
	// beacon came before the kill; a second of slack for polling.
	if suspected > suspectAfter+time.Second {
		t.Errorf("b suspected %s after it stopped; --suspect-after is %s", suspected, suspectAfter)
	}
	if removed > peerTimeout+time.Second {
		t.Errorf("b removed %s after it stopped; --peer-timeout is %s", removed, peerTimeout)
	}
	if replays < 10 {
		t.Errorf("a counted %v replayed beacons, want every replay counted", replays)
	}

	// Removed, it stays removed while the replays go on: wait for 50 more
	// to be refused, then look.
	testnet.Eventually(t, 5*time.Second, "50 more replays refused", func() error {
		p, err := a.peer(b.id)
		switch {
		case err != nil:
			return err
		case p != nil:
			return testnet.Permanent(fmt.Errorf("replays brought b back: a sees it %s", p.GetStatus()))
		}
		if v := dropped(a.Daemon, "replayed"); v < replays+50 {
			return fmt.Errorf("%v more refused", v-replays)
		}
		return nil
	})
	stop()
	requirePeers(t, a)
	if v := a.Metric(`nexusd_peers_removed_total{reason="dead"}`); v != 1 {
		t.Errorf("a counts %v dead peers, want 1", v)
	}
}
