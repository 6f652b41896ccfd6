package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestKilledDaemonIsSuspectedThenRemovedAndRediscovered: when a daemon
// dies, the others mark it suspected, then remove it within the peer
// timeout, and stop routing to it; restarted (a new instance at the same
// ports), it is found again and messages flow to it.
func TestKilledDaemonIsSuspectedThenRemovedAndRediscovered(t *testing.T) {
	testnet.Require(t)
	const peerTimeout = 3 * time.Second
	a, b, c := startThree(t, "--peer-timeout", peerTimeout.String())
	waitMesh(t, 5*time.Second, a, b, c)
	s := b.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"jobs/#"}})
	s.info()
	a.waitRoute(b, "jobs/#")
	if r := a.mustPublish("jobs/1", "before"); r.GetSubscriberCount() != 1 {
		t.Fatalf("publish reached %d, want 1 (node b)", r.GetSubscriberCount())
	}
	s.messages(1, 5*time.Second)

	b.Kill()
	killed := time.Now()
	var suspected, removed time.Duration
	testnet.Eventually(t, peerTimeout+2*time.Second, "a and c remove b", func() error {
		gone := 0
		for _, n := range []*node{a, c} {
			p, err := n.peer(b.id)
			switch {
			case err != nil:
				return err
			case p == nil:
				gone++
			case p.GetStatus() == "suspected" && suspected == 0:
				suspected = time.Since(killed)
			}
		}
		if gone < 2 {
			return fmt.Errorf("%d of 2 have removed b", gone)
		}
		removed = time.Since(killed)
		return nil
	})
	t.Logf("b suspected after %s, removed after %s", suspected.Round(time.Millisecond), removed.Round(time.Millisecond))
	if suspected == 0 {
		t.Errorf("b was removed without being seen suspected first")
	}
	// Its last beacon came before the kill; a second of slack for polling.
	if removed > peerTimeout+time.Second {
		t.Errorf("b removed %s after it died; the peer timeout is %s", removed, peerTimeout)
	}
	if r := a.mustPublish("jobs/2", "while b is gone"); r.GetSubscriberCount() != 0 {
		t.Fatalf("publish still routed to %d subscribers after b died", r.GetSubscriberCount())
	}
	for _, n := range []*node{a, c} {
		if v := n.Metric(`nexusd_peers_removed_total{reason="dead"}`); v != 1 {
			t.Errorf("%s counts %v dead peers, want 1", n.name, v)
		}
	}

	// Restart b on the same ports: a new instance.
	cfg := b.Config()
	cfg.Name, cfg.ExpectCrash = "b2", false
	b2 := start(t, cfg, "")
	if b2.id == b.id {
		t.Fatalf("restarted daemon kept instance id %s", b.id)
	}
	waitMesh(t, 5*time.Second, a, b2, c)
	s2 := b2.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"jobs/#"}})
	s2.info()
	a.waitRoute(b2, "jobs/#")
	want := payloads("after", 0, 100)
	for _, p := range want {
		a.mustPublish("jobs/3", p)
	}
	checkOrder(t, s2.messages(100, 10*time.Second), want, 1)
}
