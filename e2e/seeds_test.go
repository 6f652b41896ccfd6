package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestSeedsAloneWithoutMulticast: with multicast off, two daemons find each
// other through --peers seeds alone (one by IP, one by DNS name), and
// deliver to each other.
func TestSeedsAloneWithoutMulticast(t *testing.T) {
	testnet.Require(t)
	cluster, _ := newCluster(t)
	pa, pb := testnet.Port(), testnet.Port()
	cfg := func(name string, own, seed int, seedHost string) testnet.Config {
		return testnet.Config{Name: name, Cluster: cluster, McastPort: own,
			Args: []string{"--mcast-addr", "", "--peers", fmt.Sprintf("%s:%d", seedHost, seed)}}
	}
	nodes := launchMesh(t, cfg("a", pa, pb, "127.0.0.1"), cfg("b", pb, pa, "localhost"))
	a, b := nodes[0], nodes[1]
	for _, n := range []*node{a, b} {
		if v := n.Metric(`nexusd_beacons_dropped_total{reason="own"}`); v != 0 {
			t.Errorf("%s heard %v of its own beacons: multicast should be off", n.name, v)
		}
	}
	s := b.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"seeded"}})
	s.info()
	a.waitRoute(b, "seeded")
	want := payloads("seed", 0, 50)
	for _, p := range want {
		a.mustPublish("seeded", p)
	}
	checkOrder(t, s.messages(50, 10*time.Second), want, 1)
}
