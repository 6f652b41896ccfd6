package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestThreeHostsOverABridge: three hosts (network namespaces with real veth
// interfaces on a bridge), one daemon each, discover each other by
// multicast on eth0 and deliver across; when one host's link is cut, the
// others remove it and it removes them; when the link comes back the mesh
// converges again and messages flow both ways. The test talks to each
// sidecar over a separate management link, so the sidecar listens beyond
// loopback and requires the token.
func TestThreeHostsOverABridge(t *testing.T) {
	testnet.Require(t)
	nw := testnet.NewNetwork(t, 3)
	cluster, port := newCluster(t)
	const token = "e2e-secret"
	nodes := make([]*node, 3)
	daemons := make([]*testnet.Daemon, 3)
	var wg sync.WaitGroup
	for i, h := range nw.Hosts {
		daemons[i] = testnet.Launch(t, testnet.Config{Name: fmt.Sprintf("h%d", i+1), Cluster: cluster, Host: h, McastPort: port,
			Args: []string{"--app-bind", "0.0.0.0", "--app-token", token, "--peer-timeout", "3s"}})
		wg.Go(daemons[i].WaitReady)
	}
	wg.Wait()
	for i, d := range daemons {
		nodes[i] = connect(t, d, d.Config().Name, token)
	}
	h1, h2, h3 := nodes[0], nodes[1], nodes[2]
	waitMesh(t, 5*time.Second, h1, h2, h3)

	// Peers are reached at their hosts' addresses, learnt from beacons.
	p, err := h1.peer(h2.id)
	if err != nil || !strings.HasPrefix(p.GetEndpoint(), nw.Hosts[1].IP+":") {
		t.Fatalf("h1 sees h2 at %q (%v), want %s:port", p.GetEndpoint(), err, nw.Hosts[1].IP)
	}

	// Without the token the sidecar refuses.
	noToken := &node{Daemon: h1.Daemon, t: t, c: h1.c}
	if _, err := noToken.publish("x", "y", false); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("publish without token: %v, want UNAUTHENTICATED", err)
	}

	s3 := h3.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"plant/#"}})
	s3.info()
	h1.waitRoute(h3, "plant/#")
	want := payloads("across", 0, 200)
	for _, p := range want {
		h1.mustPublish("plant/line1", p)
	}
	checkOrder(t, s3.messages(200, 15*time.Second), want, 1)

	// Cut h2 off the bridge; within the peer timeout h1 and h3 remove h2,
	// and h2 removes them.
	nw.Cut(nw.Hosts[1])
	testnet.Eventually(t, 6*time.Second, "the mesh splits around h2", func() error {
		for _, pair := range [][2]*node{{h1, h2}, {h3, h2}, {h2, h1}, {h2, h3}} {
			p, err := pair[0].peer(pair[1].id)
			if err != nil {
				return err
			}
			if p != nil {
				return fmt.Errorf("%s still has %s (%s)", pair[0].name, pair[1].name, p.GetStatus())
			}
		}
		return nil
	})
	if r := h1.mustPublish("plant/line1", "while h2 is away"); r.GetSubscriberCount() != 1 {
		t.Fatalf("publish reached %d, want 1 (h3 only)", r.GetSubscriberCount())
	}
	s3.messages(1, 5*time.Second)

	nw.Restore(nw.Hosts[1])
	waitMesh(t, 8*time.Second, h1, h2, h3)
	s2 := h2.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"plant/#"}})
	s2.info()
	h1.waitRoute(h2, "plant/#")
	h3.waitRoute(h2, "plant/#")
	again := payloads("healed", 0, 100)
	for _, p := range again {
		h1.mustPublish("plant/line2", p)
	}
	checkOrder(t, s2.messages(100, 15*time.Second), again, 1)
	checkOrder(t, s3.messages(100, 15*time.Second), again, 1)
	// And from the healed host outwards, once it has fetched h3's
	// subscription. h3 may have subscribed too late for h2 to learn of it
	// before the cut, and after the heal h2's first fetch can fail ("no
	// route to host": its ARP entry for h3 failed during the cut) and is
	// retried a FetchInterval later.
	h2.waitRoute(h3, "plant/#")
	if r := h2.mustPublish("plant/line3", "from h2"); r.GetSubscriberCount() != 2 {
		t.Fatalf("h2's publish reached %d, want 2 (itself and h3)", r.GetSubscriberCount())
	}
	if m := s3.messages(1, 10*time.Second)[0]; string(m.GetPayload()) != "from h2" {
		t.Fatalf("h3 got %q from h2", m.GetPayload())
	}
}
