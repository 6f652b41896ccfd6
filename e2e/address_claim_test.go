package e2e

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestBeaconClaimingALiveNodeRedirectsNothing: while a publishes a steady
// flow to a subscriber on b, an attacker on another address claims b's
// instance id for its own mesh server, with b's captured beacons sent
// again from its address, a captured beacon edited to name its server
// (the tag kept), an unsigned beacon and one signed with another key.
// Nothing moves: every message reaches b, in order, with no gap; a keeps
// b at its own address, alive; the attacker's server is never dialed; and
// a counts each kind of forgery under its reason.
func TestBeaconClaimingALiveNodeRedirectsNothing(t *testing.T) {
	testnet.Require(t)
	const attacker = "127.0.0.88"
	cluster, port := newCluster(t)
	file := keyFile(t, newKey(t))
	wrong := newKey(t)
	tap := tapGroup(t, port)
	a, b := keyedPair(t, cluster, port, file)
	s := b.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"claims/#"}})
	s.info()
	a.waitRoute(b, "claims/#")
	before, err := a.peer(b.id)
	if err != nil || before == nil {
		t.Fatalf("a's view of b: %v (%v)", before, err)
	}

	caught := tap.from(b.id, 3, 5*time.Second)
	impostor := startFakeMesh(t, attacker)
	edited := proto.Clone(caught[0].beacon).(*discoverypb.Beacon)
	claim := impostor.beacon(cluster, caught[0].beacon.GetBootEpoch(), caught[0].beacon.GetCounter()+1<<20)
	claim.InstanceUuid = b.id
	edited.RpcIp, edited.RpcPort = claim.RpcIp, claim.RpcPort
	edited.Counter += 1 << 20
	editedData := encodeBeacon(edited) // carries b's tag, now over other bytes
	send := groupSender(t, attacker, port)
	stop := repeat(t, 20*time.Millisecond, func(i int) {
		send.Write(caught[i%len(caught)].data)
		send.Write(editedData)
		claim.Counter++
		send.Write(encodeBeacon(claim))
		send.Write(signBeacon(claim, wrong.key))
	})

	// Publish while the claims go on, until a has dropped 20 of each kind.
	reasons := []string{"replayed", "bad_tag", "unauthenticated", "unknown_key"}
	var want []string
	testnet.Eventually(t, 15*time.Second, "20 forgeries of each kind dropped by a during the flow", func() error {
		for _, p := range payloads("flow", len(want), len(want)+50) {
			if r := a.mustPublish("claims/x", p); r.GetSubscriberCount() != 1 {
				return testnet.Permanent(fmt.Errorf("publish of %s on a reached %d subscribers, want 1 (b)", p, r.GetSubscriberCount()))
			}
			want = append(want, p)
		}
		for _, reason := range reasons {
			if v := dropped(a.Daemon, reason); v < 20 {
				return fmt.Errorf("%v dropped as %s", v, reason)
			}
		}
		return nil
	})
	checkOrder(t, s.messages(len(want), 10*time.Second), want, 1)
	stop()

	after, err := a.peer(b.id)
	switch {
	case err != nil:
		t.Fatal(err)
	case after == nil:
		t.Fatalf("a lost b")
	case after.GetEndpoint() != before.GetEndpoint() || after.GetStatus() != "alive":
		t.Errorf("a sees b %s at %s, want alive at %s", after.GetStatus(), after.GetEndpoint(), before.GetEndpoint())
	}
	if impostor.conns.Load() != 0 {
		t.Errorf("the impostor's server was reached: %s", impostor.reached())
	}
	requirePeers(t, a, b)
	t.Logf("%d messages published during the claims, all received in order", len(want))
	if v := a.Metric("nexusd_mesh_gaps_total") + b.Metric("nexusd_mesh_gaps_total"); v != 0 {
		t.Errorf("%v gaps declared", v)
	}
	logMetrics(t, a, `nexusd_beacons_dropped_total{reason="replayed"}`, `nexusd_beacons_dropped_total{reason="bad_tag"}`,
		`nexusd_beacons_dropped_total{reason="unauthenticated"}`, `nexusd_beacons_dropped_total{reason="unknown_key"}`)
}
