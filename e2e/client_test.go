package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/nexusd/nexusd/client"
	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// node is a daemon and a sidecar client connected to it.
type node struct {
	*testnet.Daemon
	t     testing.TB
	name  string
	id    string
	c     sidecarpb.SidecarServiceClient
	token string
}

var clusterSeq atomic.Int32

// newCluster names a cluster and a discovery port no other test uses.
func newCluster(t testing.TB) (string, int) {
	return fmt.Sprintf("e2e-%s-%d", t.Name(), clusterSeq.Add(1)), testnet.Port()
}

// start starts a daemon and connects a client to it.
func start(t testing.TB, cfg testnet.Config, token string) *node {
	t.Helper()
	return connect(t, testnet.Start(t, cfg), cfg.Name, token)
}

func connect(t testing.TB, d *testnet.Daemon, name, token string) *node {
	t.Helper()
	conn, err := grpc.NewClient(d.App, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(8<<20), grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		testnet.SnapshotIfFailed(t)
		conn.Close()
	})
	n := &node{Daemon: d, t: t, name: name, c: sidecarpb.NewSidecarServiceClient(conn), token: token}
	n.id = d.InstanceID()
	return n
}

// ctx is a call context with the node's token, bounded by timeout.
func (n *node) ctx(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	if n.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+n.token)
	}
	return ctx, cancel
}

func (n *node) peers() ([]*sidecarpb.PeerInfo, error) {
	ctx, cancel := n.ctx(3 * time.Second)
	defer cancel()
	resp, err := n.c.GetPeers(ctx, &sidecarpb.GetPeersRequest{IncludeState: true})
	return resp.GetPeers(), err
}

// peer is n's view of the peer with instance id, or nil.
func (n *node) peer(id string) (*sidecarpb.PeerInfo, error) {
	ps, err := n.peers()
	for _, p := range ps {
		if p.GetInstanceUuid() == id {
			return p, err
		}
	}
	return nil, err
}

// launchMesh launches daemons side by side (each starts slowly under the
// race detector), connects a client to each, and waits until every one
// sees every other alive.
func launchMesh(t testing.TB, cfgs ...testnet.Config) []*node {
	t.Helper()
	daemons := make([]*testnet.Daemon, len(cfgs))
	for i, cfg := range cfgs {
		daemons[i] = testnet.Launch(t, cfg)
	}
	var wg sync.WaitGroup
	for _, d := range daemons {
		wg.Go(d.WaitReady)
	}
	wg.Wait()
	nodes := make([]*node, len(cfgs))
	for i, d := range daemons {
		nodes[i] = connect(t, d, cfgs[i].Name, "")
	}
	waitMesh(t, 5*time.Second, nodes...)
	return nodes
}

// waitMesh waits until every node sees every other alive.
func waitMesh(t testing.TB, timeout time.Duration, nodes ...*node) {
	t.Helper()
	testnet.Eventually(t, timeout, "mesh of "+names(nodes), func() error {
		for _, n := range nodes {
			for _, o := range nodes {
				if o == n {
					continue
				}
				p, err := n.peer(o.id)
				if err != nil {
					return err
				}
				if p.GetStatus() != "alive" {
					return fmt.Errorf("%s does not see %s alive (%v)", n.name, o.name, p)
				}
			}
		}
		return nil
	})
}

// waitRoute waits until n has synced sub's pattern, so it routes there.
func (n *node) waitRoute(sub *node, pattern string) {
	n.t.Helper()
	testnet.Eventually(n.t, 10*time.Second, fmt.Sprintf("%s routes %s to %s", n.name, pattern, sub.name), func() error {
		p, err := n.peer(sub.id)
		if err != nil {
			return err
		}
		if p == nil || !slices.Contains(p.GetTopics(), pattern) {
			return fmt.Errorf("%s's view of %s: %v", n.name, sub.name, p)
		}
		return nil
	})
}

func (n *node) publish(topic, payload string, retain bool) (*sidecarpb.PublishResponse, error) {
	ctx, cancel := n.ctx(5 * time.Second)
	defer cancel()
	return n.c.Publish(ctx, &sidecarpb.PublishRequest{Topic: topic, Payload: []byte(payload), Retain: retain})
}

func (n *node) mustPublish(topic, payload string) *sidecarpb.PublishResponse {
	n.t.Helper()
	r, err := n.publish(topic, payload, false)
	if err != nil {
		n.t.Fatalf("publish %s on %s: %v", topic, n.name, err)
	}
	return r
}

// sub is an open subscription stream read by a goroutine.
type sub struct {
	t      testing.TB
	events chan *sidecarpb.MessageEvent
	ended  chan error // the stream's end (io.EOF for a clean end)
	cancel context.CancelFunc
}

func (n *node) subscribe(req *sidecarpb.SubscribeRequest) *sub {
	n.t.Helper()
	return n.stream(func(ctx context.Context) (grpc.ServerStreamingClient[sidecarpb.MessageEvent], error) {
		return n.c.Subscribe(ctx, req)
	})
}

func (n *node) resume(req *sidecarpb.ResumeSubscribeRequest) *sub {
	n.t.Helper()
	return n.stream(func(ctx context.Context) (grpc.ServerStreamingClient[sidecarpb.MessageEvent], error) {
		return n.c.ResumeSubscribe(ctx, req)
	})
}

func (n *node) stream(open func(context.Context) (grpc.ServerStreamingClient[sidecarpb.MessageEvent], error)) *sub {
	n.t.Helper()
	ctx, cancel := n.ctx(5 * time.Minute)
	st, err := open(ctx)
	if err != nil {
		cancel()
		n.t.Fatal(err)
	}
	s := &sub{t: n.t, events: make(chan *sidecarpb.MessageEvent, 100000), ended: make(chan error, 1), cancel: cancel}
	n.t.Cleanup(func() {
		testnet.SnapshotIfFailed(n.t)
		cancel()
	})
	go func() {
		for {
			ev, err := st.Recv()
			if err != nil {
				s.ended <- err
				close(s.events)
				return
			}
			s.events <- ev
		}
	}()
	return s
}

// next is the stream's next event; it fails the test at timeout or end.
func (s *sub) next(timeout time.Duration) *sidecarpb.MessageEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("stream ended: %v", <-s.ended)
		}
		return ev
	case <-time.After(timeout):
		s.t.Fatalf("no event within %s", timeout)
	}
	return nil
}

// info reads the first event, which must be subscription_info.
func (s *sub) info() *sidecarpb.SubscriptionInfo {
	s.t.Helper()
	ev := s.next(10 * time.Second)
	if ev.GetSubscriptionInfo() == nil {
		s.t.Fatalf("first event is %v, want subscription_info", ev)
	}
	return ev.GetSubscriptionInfo()
}

// messages reads live messages (single or batched) until it has count,
// skipping heartbeats; any other event fails the test.
func (s *sub) messages(count int, timeout time.Duration) []*sidecarpb.Message {
	s.t.Helper()
	var out []*sidecarpb.Message
	deadline := time.Now().Add(timeout)
	for len(out) < count {
		ev := s.next(time.Until(deadline))
		switch {
		case ev.GetMessage() != nil:
			out = append(out, ev.GetMessage())
		case ev.GetBatch() != nil:
			out = append(out, ev.GetBatch().GetMessages()...)
		case ev.GetHeartbeat() != nil:
		default:
			s.t.Fatalf("after %d messages: unexpected event %v", len(out), ev)
		}
	}
	return out
}

// end waits for the stream to end and returns why (io.EOF: cleanly).
func (s *sub) end(timeout time.Duration) error {
	s.t.Helper()
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return <-s.ended
			}
		case <-time.After(timeout):
			s.t.Fatalf("stream did not end within %s", timeout)
		}
	}
}

// quiet checks no message event arrives for d.
func (s *sub) quiet(d time.Duration) {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok && ev.GetHeartbeat() == nil {
			s.t.Fatalf("unexpected event %v", ev)
		}
	case <-time.After(d):
	}
}

// checkOrder requires payloads want[0..] in order and sequence numbers
// that rise by one from firstSeq.
func checkOrder(t testing.TB, got []*sidecarpb.Message, want []string, firstSeq int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		if string(m.GetPayload()) != want[i] {
			t.Fatalf("message %d: payload %q, want %q (order or duplicate problem)", i, m.GetPayload(), want[i])
		}
		if firstSeq > 0 && m.GetSequenceNumber() != firstSeq+int64(i) {
			t.Fatalf("message %d: sequence %d, want %d", i, m.GetSequenceNumber(), firstSeq+int64(i))
		}
	}
}

func payloads(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%04d", prefix, i))
	}
	return out
}

func names(nodes []*node) string {
	s := ""
	for i, n := range nodes {
		if i > 0 {
			s += ","
		}
		s += n.name
	}
	return s
}

// wireOptions are the client library's options for the wire this run is
// for: packed frames by default, the v1 calls with NEXUSD_E2E_WIRE=v1.
func wireOptions() []client.Option {
	return []client.Option{client.WithPacked(!testnet.V1Wire())}
}
