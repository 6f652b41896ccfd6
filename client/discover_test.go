package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
)

// TestDiscoverHearsTheDaemonsBeacons: listening on the discovery port
// (multicast on lo, inside the test's own namespace) finds every daemon
// of the cluster with its id, mesh address and topic hash, beside the
// daemons that share the port; a cluster filter keeps others out.
func TestDiscoverHearsTheDaemonsBeacons(t *testing.T) {
	cl, port := cluster(t)
	a := testnet.Start(t, testnet.Config{Name: "a", Cluster: cl, McastPort: port})
	b := testnet.Start(t, testnet.Config{Name: "b", Cluster: cl, McastPort: port})
	other := testnet.Start(t, testnet.Config{Name: "other", Cluster: cl + "-other", McastPort: port})
	ca := dial(t, a.App)
	if _, err := ca.Subscribe(ctxT(t, time.Minute), []string{"disc/#"}); err != nil {
		t.Fatal(err)
	}
	ids := map[string]*testnet.Daemon{a.InstanceID(): a, b.InstanceID(): b}
	var found []client.Daemon
	testnet.Eventually(t, 10*time.Second, "both daemons heard, a with its topic", func() error {
		var err error
		found, err = client.Discover(context.Background(), client.DiscoverOptions{Port: port, Interface: "lo", Timeout: 1500 * time.Millisecond, Cluster: cl})
		if err != nil {
			return err
		}
		if len(found) != 2 {
			return fmt.Errorf("found %+v", found)
		}
		for _, f := range found {
			d := ids[f.InstanceID]
			switch {
			case d == nil:
				return fmt.Errorf("unknown daemon %+v", f)
			case f.Address != d.Mesh, f.Status != "alive", f.Cluster != cl, f.ProtocolVersion != 1, f.Beacons < 1:
				return fmt.Errorf("daemon %+v, mesh at %s", f, d.Mesh)
			case d == a && f.TopicStateHash == 0, d == b && f.TopicStateHash != 0:
				return fmt.Errorf("daemon %+v: hash does not show its topics yet", f)
			}
		}
		return nil
	})
	all, err := client.Discover(context.Background(), client.DiscoverOptions{Port: port, Interface: "lo", Timeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	otherID := other.InstanceID()
	heard := false
	for _, f := range all {
		heard = heard || f.InstanceID == otherID
	}
	if len(all) != 3 || !heard {
		t.Fatalf("without a cluster filter: %+v, want all three", all)
	}
	if _, err := client.Discover(context.Background(), client.DiscoverOptions{Group: "10.0.0.1", Port: port}); err == nil {
		t.Fatal("a unicast address as the group was accepted")
	}
}
