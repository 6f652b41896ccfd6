package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
)

// TestAnUnsignedBeaconIsTakenOnlyFromTheAddressItNames: without a cluster
// key, a beacon sent from one address and naming a mesh server at
// another is dropped and counted as address_mismatch, and the server it
// names is never dialed, so an outsider cannot point a mesh's fetches at
// a third host (SPEC §6, no reflection). The same beacon sent from the
// address it names is taken, and that server is dialed.
func TestAnUnsignedBeaconIsTakenOnlyFromTheAddressItNames(t *testing.T) {
	testnet.Require(t)
	const attacker, victim = "127.0.0.88", "127.0.0.89"
	cluster, port := newCluster(t)
	a := start(t, testnet.Config{Name: "a", Cluster: cluster, McastPort: port}, "")
	target := startFakeMesh(t, victim)
	forged := target.beacon(cluster, 0, 0)

	fromAttacker := groupSender(t, attacker, port)
	stop := repeat(t, 20*time.Millisecond, func(int) { fromAttacker.Write(encodeBeacon(forged)) })
	testnet.Eventually(t, 10*time.Second, "10 beacons dropped as address_mismatch", func() error {
		m, err := a.Metrics()
		if err != nil {
			return err
		}
		if v := m[`nexusd_beacons_dropped_total{reason="address_mismatch"}`]; v < 10 {
			return fmt.Errorf("address_mismatch drops: %v", v)
		}
		return nil
	})
	stop()
	if n := target.conns.Load(); n != 0 {
		t.Fatalf("the server a beacon from %s named at %s was dialed %d times", attacker, victim, n)
	}
	if p, err := a.peer(target.id); err != nil || p != nil {
		t.Fatalf("a took the forged beacon's instance as a peer: %v (%v)", p, err)
	}

	fromVictim := groupSender(t, victim, port)
	stop = repeat(t, 20*time.Millisecond, func(int) { fromVictim.Write(encodeBeacon(forged)) })
	defer stop()
	testnet.Eventually(t, 10*time.Second, "a dials the server its beacon came from", func() error {
		if target.conns.Load() == 0 {
			return fmt.Errorf("not dialed")
		}
		return nil
	})
}

// TestBeaconsLeaveFromTheAdvertisedAddress: a daemon whose mesh server
// listens on an address that is not the one its multicast would leave
// from (127.0.0.77 here, where the route's address on lo is 127.0.0.1)
// sends its beacons from the address it advertises, so peers without a
// cluster key, which take a beacon only from the address it names, mesh
// with it and reach it there.
func TestBeaconsLeaveFromTheAdvertisedAddress(t *testing.T) {
	testnet.Require(t)
	const other = "127.0.0.77"
	cluster, port := newCluster(t)
	nodes := launchMesh(t,
		testnet.Config{Name: "a", Cluster: cluster, McastPort: port},
		testnet.Config{Name: "b", Cluster: cluster, McastPort: port, Args: []string{"--bind", other}})
	a, b := nodes[0], nodes[1]
	p, err := a.peer(b.id)
	if err != nil || !strings.HasPrefix(p.GetEndpoint(), other+":") {
		t.Fatalf("a sees b at %q (%v), want %s:port", p.GetEndpoint(), err, other)
	}
	m, err := a.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if v := m[`nexusd_beacons_dropped_total{reason="address_mismatch"}`]; v != 0 {
		t.Fatalf("a dropped %v of b's beacons as address_mismatch", v)
	}
}
