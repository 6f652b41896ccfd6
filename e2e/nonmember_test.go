package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestPeerWithoutTheKeyIsNeitherListedNorServed: a stranger without the
// cluster key that beacons to the group (unsigned, in the discovery wire
// format) and serves a mesh subscribed to "#" is never listed by keyed
// daemons and receives nothing they publish, a retained value included:
// every beacon of it is dropped and counted as unauthenticated. The
// control shows the stranger is a working attack: a daemon without a key
// takes it in and pushes it what is published.
func TestPeerWithoutTheKeyIsNeitherListedNorServed(t *testing.T) {
	testnet.Require(t)
	const beaconEvery = 100 * time.Millisecond
	strangerBeacons := func(t *testing.T, fake *fakeMesh, cluster string, port int) {
		send := groupSender(t, "127.0.0.66", port)
		epoch := uint64(time.Now().UnixMilli())
		repeat(t, beaconEvery, func(i int) { send.Write(encodeBeacon(fake.beacon(cluster, epoch, uint64(i+1)))) })
	}

	// Cluster names come from the parent: subtests' names are too long.
	controlCluster, controlPort := newCluster(t)
	keyedCluster, keyedPort := newCluster(t)

	t.Run("control: a daemon without a key takes it in", func(t *testing.T) {
		cluster, port := controlCluster, controlPort
		u := start(t, testnet.Config{Name: "u", Cluster: cluster, McastPort: port}, "")
		fake := startFakeMesh(t, "127.0.0.66")
		strangerBeacons(t, fake, cluster, port)
		began := time.Now()
		u.waitRoute(&node{id: fake.id, name: "the stranger"}, "#")
		if _, err := u.publish("secret/pw", "hunter2", true); err != nil {
			t.Fatal(err)
		}
		testnet.Eventually(t, 5*time.Second, "the stranger receives the secret", func() error {
			if fake.messages.Load() < 1 {
				return fmt.Errorf("it was reached by %s", fake.reached())
			}
			return nil
		})
		t.Logf("without a key the stranger was routed to and pushed to within %s (%s)", time.Since(began).Round(time.Millisecond), fake.reached())
	})

	t.Run("keyed daemons", func(t *testing.T) {
		cluster, port := keyedCluster, keyedPort
		file := keyFile(t, newKey(t))
		a, b := keyedPair(t, cluster, port, file)
		s := b.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"secret/#"}})
		s.info()
		a.waitRoute(b, "secret/#")

		fake := startFakeMesh(t, "127.0.0.66")
		strangerBeacons(t, fake, cluster, port)
		// Ten beacons of the stranger each, at ten a second: far more than
		// the daemon without a key needed to take it in (one). It must never
		// be listed meanwhile.
		testnet.Eventually(t, 10*time.Second, "10 beacons of the stranger dropped as unauthenticated by a and b", func() error {
			for _, n := range []*node{a, b} {
				ids, err := n.peerIDs()
				if err != nil {
					return err
				}
				if slices.Contains(ids, fake.id) {
					return testnet.Permanent(fmt.Errorf("%s lists the stranger as a peer", n.name))
				}
				if v := dropped(n.Daemon, "unauthenticated"); v < 10 {
					return fmt.Errorf("%s dropped %v as unauthenticated", n.name, v)
				}
			}
			return nil
		})

		if _, err := a.publish("secret/pw", "hunter2", true); err != nil {
			t.Fatal(err)
		}
		want := append([]string{"hunter2"}, payloads("secret", 0, 20)...)
		for _, p := range want[1:] {
			if r := a.mustPublish("secret/x", p); r.GetSubscriberCount() != 1 {
				t.Fatalf("publish on a reached %d subscribers, want 1 (b)", r.GetSubscriberCount())
			}
		}
		checkOrder(t, s.messages(len(want), 10*time.Second), want, 0) // sequences are per topic
		// b has everything a published, so a has pushed all it ever will.
		if got := fake.conns.Load(); got != 0 {
			t.Errorf("the stranger was reached: %s", fake.reached())
		}
		requirePeers(t, a, b)
		requirePeers(t, b, a)
		for _, n := range []*node{a, b} {
			if v := n.Metric(`nexusd_beacons_received_total`); v < 1 {
				t.Errorf("%s accepted %v beacons: the members' own beacons must pass", n.name, v)
			}
		}
		logMetrics(t, a, `nexusd_beacons_dropped_total{reason="unauthenticated"}`, `nexusd_beacons_dropped_total{reason="rate_limited"}`,
			"nexusd_beacons_received_total")
	})
}

// TestPeerWithAnotherKeyIsNeitherListedNorServed: a daemon of the same
// cluster name on the same discovery group, whose key is another, is not
// a member: neither side lists the other, nothing published on one side
// reaches the other, neither even dials the other's mesh port, and each
// drops the other's beacons as unknown_key.
func TestPeerWithAnotherKeyIsNeitherListedNorServed(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	file, other := keyFile(t, newKey(t)), keyFile(t, newKey(t))
	a, b := keyedPair(t, cluster, port, file)
	c := start(t, keyed(testnet.Config{Name: "c", Cluster: cluster, McastPort: port}, other), "")
	stopTogether(t, a, b, c)

	sb := b.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"t/#"}})
	sc := c.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"t/#"}})
	sb.info()
	sc.info()
	a.waitRoute(b, "t/#")
	waitDropped(t, 10*time.Second, "unknown_key", 3, a, b, c)

	fromA, fromC := payloads("a", 0, 20), payloads("c", 0, 20)
	for _, p := range fromA {
		if r := a.mustPublish("t/a", p); r.GetSubscriberCount() != 1 {
			t.Fatalf("publish on a reached %d subscribers, want 1 (b)", r.GetSubscriberCount())
		}
	}
	for _, p := range fromC {
		if r := c.mustPublish("t/c", p); r.GetSubscriberCount() != 1 {
			t.Fatalf("publish on c reached %d subscribers, want 1 (its own)", r.GetSubscriberCount())
		}
	}
	checkOrder(t, sb.messages(len(fromA), 10*time.Second), fromA, 1)
	checkOrder(t, sc.messages(len(fromC), 10*time.Second), fromC, 1)

	for n, want := range map[*node]float64{a: 0, b: float64(len(fromA)), c: 0} {
		if v := n.Metric("nexusd_messages_received_total"); v != want {
			t.Errorf("%s received %v messages from peers, want %v", n.name, v, want)
		}
	}
	if v := c.Metric("nexusd_messages_forwarded_total"); v != 0 {
		t.Errorf("c forwarded %v messages, want none", v)
	}
	for _, n := range []*node{a, b, c} {
		if v := n.Metric(`nexusd_mesh_refused_total{reason="handshake"}`); v != 0 {
			t.Errorf("%s refused %v mesh handshakes: the other side dialed it", n.name, v)
		}
	}
	requirePeers(t, a, b)
	requirePeers(t, b, a)
	requirePeers(t, c)
}
