package e2e

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestKeyRotationLosesNoMessage: the cluster key of three daemons is
// rotated as the README says (the new key second on every daemon, then
// first, then the old one removed; each step's files rewritten and
// SIGHUP sent to all before the next), while one of them publishes a
// steady flow to a subscriber on another. The subscriber gets every
// message in order, with no gap; no daemon refuses a member's beacon at
// any step; at the end all beacons are signed with the new key, and a new
// daemon holding only the new key joins the mesh and is served.
// scenarios/testdata/key_rotation is the simulator's version.
func TestKeyRotationLosesNoMessage(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	oldKey, newK := newKey(t), newKey(t)
	var files []string
	var cfgs []testnet.Config
	for _, name := range []string{"a", "b", "c"} {
		f := keyFile(t, oldKey)
		files = append(files, f)
		cfgs = append(cfgs, keyed(testnet.Config{Name: name, Cluster: cluster, McastPort: port}, f, "--beacon-interval", "250ms"))
	}
	tap := tapGroup(t, port)
	nodes := launchMesh(t, cfgs...)
	a, c := nodes[0], nodes[2]
	s := c.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"rotate"}})
	s.info()
	a.waitRoute(c, "rotate")

	// The flow: one message every 10 ms from a, each of which must reach
	// c's subscriber.
	var (
		mu        sync.Mutex
		published []string
		flowErr   error
	)
	stopFlow := repeat(t, 10*time.Millisecond, func(i int) {
		p := fmt.Sprintf("flow-%05d", i)
		r, err := a.publish("rotate", p, false)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil && flowErr == nil:
			flowErr = fmt.Errorf("publish %s: %v", p, err)
		case err == nil && r.GetSubscriberCount() != 1 && flowErr == nil:
			flowErr = fmt.Errorf("publish %s reached %d subscribers, want 1 (c)", p, r.GetSubscriberCount())
		case err == nil:
			published = append(published, p)
		}
	})
	sent := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(published)
	}
	var got []*sidecarpb.Message
	// receiveUpTo reads until c's subscriber has n messages.
	receiveUpTo := func(n int) {
		t.Helper()
		if n > len(got) {
			got = append(got, s.messages(n-len(got), 10*time.Second)...)
		}
	}

	for _, step := range []struct {
		name string
		keys []clusterKey
	}{
		{"the new key second", []clusterKey{oldKey, newK}},
		{"the new key first", []clusterKey{newK, oldKey}},
		{"the old key removed", []clusterKey{newK}},
	} {
		began := time.Now()
		for i, n := range nodes {
			writeKeys(t, files[i], step.keys...)
			if err := syscall.Kill(n.PID(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
		loaded := fmt.Sprintf("keys=%d primary=%08x", len(step.keys), step.keys[0].key.ID)
		testnet.Eventually(t, 5*time.Second, step.name+": every daemon reloads its key", func() error {
			for _, n := range nodes {
				if !strings.Contains(n.Log(), loaded) {
					return fmt.Errorf("%s has not logged %q", n.name, loaded)
				}
			}
			return nil
		})
		// The step lasts two rounds of beacons, each taken by every
		// peer, and 30 more messages of the flow.
		var heard []float64
		for _, n := range nodes {
			heard = append(heard, n.Metric("nexusd_beacons_received_total"))
		}
		testnet.Eventually(t, 5*time.Second, step.name+": two rounds of beacons taken", func() error {
			for i, n := range nodes {
				if v := n.Metric("nexusd_beacons_received_total"); v < heard[i]+4 {
					return fmt.Errorf("%s took %v beacons since the reload", n.name, v-heard[i])
				}
			}
			return nil
		})
		receiveUpTo(sent() + 30)
		waitMesh(t, 3*time.Second, nodes...)
		t.Logf("%s: reloaded, two rounds of beacons and 30 more messages in %s", step.name, time.Since(began).Round(time.Millisecond))
	}

	// Every beacon now carries the new key's id.
	pending := map[string]string{a.id: "a", nodes[1].id: "b", c.id: "c"}
	testnet.Eventually(t, 5*time.Second, "beacons of a, b and c signed with the new key", func() error {
		for len(pending) > 0 {
			select {
			case b := <-tap.ch:
				if b.beacon.GetKeyId() == newK.key.ID {
					delete(pending, b.beacon.GetInstanceUuid())
				}
			default:
				return fmt.Errorf("none yet from %v", pending)
			}
		}
		return nil
	})

	stopFlow()
	mu.Lock()
	all, err := append([]string(nil), published...), flowErr
	mu.Unlock()
	if err != nil {
		t.Errorf("the flow during the rotation: %v", err)
	}
	receiveUpTo(len(all))
	checkOrder(t, got, all, 1)
	t.Logf("%d messages published during the rotation, all received in order", len(all))
	for _, n := range nodes {
		for _, reason := range []string{"unknown_key", "bad_tag", "unauthenticated", "replayed"} {
			if v := dropped(n.Daemon, reason); v != 0 {
				t.Errorf("%s dropped %v beacons as %s during the rotation", n.name, v, reason)
			}
		}
		if v := n.Metric("nexusd_mesh_gaps_total"); v != 0 {
			t.Errorf("%s declared %v gaps", n.name, v)
		}
	}

	// A daemon that only ever had the new key is a member: new
	// connections use the new key's CA.
	d := start(t, keyed(testnet.Config{Name: "d", Cluster: cluster, McastPort: port}, keyFile(t, newK), "--beacon-interval", "250ms"), "")
	stopTogether(t, append(nodes, d)...)
	waitMesh(t, 5*time.Second, append(nodes, d)...)
	sd := d.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"after"}})
	sd.info()
	a.waitRoute(d, "after")
	if r := a.mustPublish("after", "rotated"); r.GetSubscriberCount() != 1 {
		t.Fatalf("publish reached %d subscribers, want 1 (d)", r.GetSubscriberCount())
	}
	checkOrder(t, sd.messages(1, 5*time.Second), []string{"rotated"}, 1)
}
