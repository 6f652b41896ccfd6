package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/netshell"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// startThree starts three daemons of one cluster on loopback multicast and
// waits until each serves; extra flags go to every daemon.
func startThree(t *testing.T, extra ...string) (a, b, c *node) {
	t.Helper()
	cluster, port := newCluster(t)
	nodes := make([]*node, 3)
	var wg sync.WaitGroup
	for i, name := range []string{"a", "b", "c"} {
		d := testnet.Launch(t, testnet.Config{Name: name, Cluster: cluster, McastPort: port, Args: extra})
		wg.Go(func() { d.WaitReady() })
		nodes[i] = &node{Daemon: d, name: name}
	}
	wg.Wait()
	for i, n := range nodes {
		nodes[i] = connect(t, n.Daemon, n.name, "")
	}
	return nodes[0], nodes[1], nodes[2]
}

// TestThreeDaemonsMeshAndDeliverInOrder: three daemons on distinct ports
// find each other by multicast within 3 s; a subscriber on one receives
// 1000 messages published on another in order without duplicates (unary
// and streamed publishes, single and batched delivery); a wildcard
// subscription works across nodes; a retained value set on one node
// reaches a new subscriber on a third.
func TestThreeDaemonsMeshAndDeliverInOrder(t *testing.T) {
	testnet.Require(t)
	a, b, c := startThree(t)
	began := time.Now()
	waitMesh(t, 3*time.Second, a, b, c)
	t.Logf("mesh of three formed in %s", time.Since(began).Round(time.Millisecond))

	t.Run("1000 messages in order", func(t *testing.T) {
		one := c.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"orders/eu"}, ClientId: "single"})
		batched := c.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"orders/eu"}, ClientId: "batched", MaxBatch: 64})
		one.info()
		batched.info()
		a.waitRoute(c, "orders/eu")
		want := payloads("m", 0, 1000)
		for _, p := range want {
			if r := a.mustPublish("orders/eu", p); r.GetSubscriberCount() != 1 {
				t.Fatalf("publish reached %d subscribers, want 1 (node c)", r.GetSubscriberCount())
			}
		}
		checkOrder(t, one.messages(1000, 30*time.Second), want, 1)
		checkOrder(t, batched.messages(1000, 30*time.Second), want, 1)

		// The same over PublishStream, in batches of 100.
		ctx, cancel := a.ctx(30 * time.Second)
		defer cancel()
		ps, err := a.c.PublishStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		more := payloads("s", 0, 1000)
		for i := 0; i < len(more); i += 100 {
			batch := &sidecarpb.PublishBatch{}
			for _, p := range more[i : i+100] {
				batch.Requests = append(batch.Requests, &sidecarpb.PublishRequest{Topic: "orders/eu", Payload: []byte(p)})
			}
			if err := ps.Send(batch); err != nil {
				t.Fatal(err)
			}
		}
		ps.CloseSend()
		var acked uint64
		for {
			ack, err := ps.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ack.GetFailures()) > 0 {
				t.Fatalf("PublishStream failures: %v", ack.GetFailures())
			}
			acked = ack.GetAccepted()
		}
		if acked != 1000 {
			t.Fatalf("PublishStream acknowledged %d of 1000", acked)
		}
		checkOrder(t, one.messages(1000, 30*time.Second), more, 1001)
		checkOrder(t, batched.messages(1000, 30*time.Second), more, 1001)
		one.quiet(200 * time.Millisecond)
		checkPushWire(t, a)
	})

	t.Run("wildcard across nodes", func(t *testing.T) {
		s := b.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"sensors/+/temp", "logs/#"}})
		s.info()
		a.waitRoute(b, "sensors/+/temp")
		a.waitRoute(b, "logs/#")
		for _, topic := range []string{"sensors/k1/temp", "sensors/k1/humidity", "sensors/k2/temp", "logs", "logs/app/err", "other"} {
			a.mustPublish(topic, topic)
		}
		got := s.messages(4, 10*time.Second)
		var topics []string
		for _, m := range got {
			topics = append(topics, m.GetTopic())
		}
		if fmt.Sprint(topics) != "[sensors/k1/temp sensors/k2/temp logs logs/app/err]" {
			t.Fatalf("wildcard subscriber got %v", topics)
		}
		s.quiet(300 * time.Millisecond)
	})

	t.Run("retained value reaches a new subscriber on a third node", func(t *testing.T) {
		if _, err := a.publish("config/site", "v1", true); err != nil {
			t.Fatal(err)
		}
		// Retained values go to every peer; wait until c holds it.
		testnet.Eventually(t, 5*time.Second, "c holds the retained value", func() error {
			if v := c.Metric("nexusd_retained_messages"); v != 1 {
				return fmt.Errorf("c holds %v retained values", v)
			}
			return nil
		})
		s := c.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"config/#"}, ReceiveRetained: true})
		s.info()
		ev := s.next(5 * time.Second)
		if m := ev.GetRetainedMessage(); m == nil || string(m.GetPayload()) != "v1" || m.GetTopic() != "config/site" {
			t.Fatalf("after subscription_info: %v, want retained config/site=v1", ev)
		}
		if m := ev.GetRetainedMessage(); m.GetSourceNodeId() != a.id {
			t.Fatalf("retained value's source is %s, want node a %s", m.GetSourceNodeId(), a.id)
		}
		// Then live messages follow.
		a.waitRoute(c, "config/#")
		a.mustPublish("config/site", "v2")
		if m := s.messages(1, 5*time.Second)[0]; string(m.GetPayload()) != "v2" {
			t.Fatalf("live message %q, want v2", m.GetPayload())
		}
	})

	t.Run("status page data shows peers, last seen and subscribers", func(t *testing.T) {
		body, err := a.Get("/api/status")
		if err != nil {
			t.Fatal(err)
		}
		var st netshell.StatusReport
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, p := range st.Peers {
			ids[p.ID] = true
			if p.Status != "alive" || p.LastSeenAgo < 0 || p.LastSeenAgo > 3 || p.LastSeenMs == 0 || !p.Synced {
				t.Errorf("peer %+v: want alive, synced, seen within the last 3 s", p)
			}
		}
		if len(st.Peers) != 2 || !ids[b.id] || !ids[c.id] {
			t.Errorf("a lists peers %v, want b and c", ids)
		}
		var cs netshell.StatusReport
		body, _ = c.Get("/api/status")
		json.Unmarshal([]byte(body), &cs)
		subs := map[string]int{}
		for _, tp := range cs.Topics {
			subs[tp.Pattern] = tp.Subscribers
		}
		if subs["orders/eu"] != 2 || subs["config/#"] != 1 {
			t.Errorf("c's topics %v, want orders/eu with 2 subscribers and config/# with 1", subs)
		}
	})

	// Metrics name the traffic: remote deliveries on c, forwards on a.
	if v := c.Metric(`nexusd_messages_delivered_total{origin="remote"}`); v < 4000 {
		t.Errorf("c counts %v remote-origin deliveries, want at least 4000", v)
	}
	if v := a.Metric("nexusd_messages_forwarded_total"); v < 2000 {
		t.Errorf("a counts %v forwards, want at least 2000", v)
	}
}

// checkPushWire checks that n pushed to its peers on the wire this run is
// for: packed frames by default, the batch stream with NEXUSD_E2E_WIRE=v1
// (daemons started with --mesh-packed=false).
func checkPushWire(t *testing.T, n *node) {
	t.Helper()
	m, err := n.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	packed, batch := m[`nexusd_mesh_push_frames_total{wire="packed"}`], m[`nexusd_mesh_push_frames_total{wire="batch"}`]
	want := "packed"
	if testnet.V1Wire() {
		want = "batch"
	}
	if (want == "packed") != (packed > 0 && batch == 0) || (want == "batch") != (batch > 0 && packed == 0) {
		t.Fatalf("pushed %v packed and %v batch frames; this run is for %s frames only", packed, batch, want)
	}
	t.Logf("pushed %v %s frames", max(packed, batch), want)
}
