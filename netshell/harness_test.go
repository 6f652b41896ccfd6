package netshell_test

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/netshell"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

func newHarness(t *testing.T, id string, mod func(*netshell.Options)) *netshell.Harness {
	t.Helper()
	o := netshell.DefaultOptions()
	o.Cluster = "harness"
	if mod != nil {
		mod(&o)
	}
	h, err := netshell.NewHarness(netshell.HarnessConfig{Options: o, ID: id, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func raw(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls the node until cond holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, h *netshell.Harness, what string, cond func(*state.Node) bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		var ok bool
		if err := h.Query(ctx, func(n *state.Node) { ok = cond(n) }); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

func TestHarnessServesTheDaemonsHandlersWithRawFrames(t *testing.T) {
	h := newHarness(t, "self", nil)
	ctx := ctx5(t)

	out, err := h.Call(ctx, sidecarpb.SidecarService_Publish_FullMethodName,
		raw(t, &sidecarpb.PublishRequest{Topic: "cfg/a", Payload: []byte("v"), Retain: true}))
	var resp sidecarpb.PublishResponse
	if err != nil || len(out) != 1 || proto.Unmarshal(out[0], &resp) != nil || !resp.GetSuccess() {
		t.Fatalf("publish: %v, %v", out, err)
	}
	_, err = h.Call(ctx, sidecarpb.SidecarService_Publish_FullMethodName, []byte{0xff})
	if st, _ := status.FromError(err); st.Code() != codes.Internal || !strings.Contains(st.Message(), "unmarshal") {
		t.Fatalf("undecodable publish: %v, want INTERNAL from the server's own unmarshalling", err)
	}
	_, err = h.Call(ctx, sidecarpb.SidecarService_Publish_FullMethodName, raw(t, &sidecarpb.PublishRequest{Topic: "a/+"}))
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("publish to a wildcard: %v, want INVALID_ARGUMENT", err)
	}

	// A subscription stream stays open: Call reads what is there and goes.
	out, err = h.Call(ctx, sidecarpb.SidecarService_Subscribe_FullMethodName,
		raw(t, &sidecarpb.SubscribeRequest{Topics: []string{"cfg/#"}, ReceiveRetained: true}))
	var first sidecarpb.MessageEvent
	if err != nil || len(out) == 0 || proto.Unmarshal(out[0], &first) != nil || first.GetSubscriptionInfo() == nil {
		t.Fatalf("subscribe: %d frames, %v; want subscription_info first", len(out), err)
	}
	// A refused one ends with the node's reason.
	_, err = h.Call(ctx, sidecarpb.SidecarService_Subscribe_FullMethodName, raw(t, &sidecarpb.SubscribeRequest{}))
	if st, _ := status.FromError(err); st.Code() != codes.InvalidArgument || st.Message() == "" {
		t.Fatalf("subscribe to nothing: %v, want INVALID_ARGUMENT with a reason", err)
	}
	// Client streams take every frame.
	batch := raw(t, &sidecarpb.PublishBatch{Requests: []*sidecarpb.PublishRequest{{Topic: "x"}, {Topic: "y"}}})
	out, err = h.Call(ctx, sidecarpb.SidecarService_PublishStream_FullMethodName, batch, batch)
	var ack sidecarpb.PublishAck
	if err != nil || len(out) == 0 || proto.Unmarshal(out[len(out)-1], &ack) != nil || ack.GetAccepted() != 4 {
		t.Fatalf("publish stream: %d acks (last %v), %v; want 4 accepted", len(out), &ack, err)
	}
	if _, err := h.Call(ctx, "/nexusd.sidecar.SidecarService/Nothing"); err == nil {
		t.Fatal("an RPC no server registers was called")
	}
}

func TestHarnessMeshReachesOnlyLinkedPeers(t *testing.T) {
	self, p1 := newHarness(t, "self", nil), newHarness(t, "p1", nil)
	ctx := ctx5(t)
	self.Link("127.0.0.2:5671", p1)
	if err := p1.Open(ctx, sidecarpb.SidecarService_Subscribe_FullMethodName, raw(t, &sidecarpb.SubscribeRequest{Topics: []string{"#"}})); err != nil {
		t.Fatal(err)
	}
	var hash uint64
	if err := p1.Query(ctx, func(n *state.Node) { hash = n.Hash() }); err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddrPort("127.0.0.2:5670")
	for _, b := range []struct {
		pb   *discoverypb.Beacon
		from netip.AddrPort
	}{
		{&discoverypb.Beacon{InstanceUuid: "p1", ClusterId: "harness", RpcPort: 5671, TopicStateHash: hash, ProtocolVersion: 1}, src},
		{&discoverypb.Beacon{InstanceUuid: "p2", ClusterId: "harness", RpcIp: "127.0.0.3", RpcPort: 5671, TopicStateHash: 7, ProtocolVersion: 1},
			netip.MustParseAddrPort("127.0.0.3:5670")},
	} {
		if dropped := self.Datagram(raw(t, b.pb), b.from); dropped != "" {
			t.Fatalf("beacon %v dropped: %s", b.pb, dropped)
		}
	}
	if dropped := self.Datagram([]byte{0xff}, src); dropped != "undecodable" {
		t.Fatalf("garbage datagram: dropped %q, want undecodable", dropped)
	}
	eventually(t, ctx, self, "p1 synced and p2's fetch failed", func(n *state.Node) bool {
		h, ok := n.SyncedHash("p1")
		c := n.Status().Counters
		return ok && h == hash && c.FetchesOK == 1 && c.FetchesFailed >= 1
	})
	// A publish on self reaches p1 over the mesh.
	if _, err := self.Call(ctx, sidecarpb.SidecarService_Publish_FullMethodName, raw(t, &sidecarpb.PublishRequest{Topic: "a", Payload: []byte("x")})); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, p1, "p1 to take self's push", func(n *state.Node) bool { return n.Status().Counters.ReceivedRemote == 1 })
	// p1's mesh answers its peers' fetches.
	if _, err := p1.Call(ctx, meshpb.MeshService_GetNodeState_FullMethodName); err != nil {
		t.Fatal(err)
	}
}

func TestHarnessSendsTheAppTokenTheDaemonRequires(t *testing.T) {
	h := newHarness(t, "", func(o *netshell.Options) { o.AppToken = "secret" })
	if _, err := h.Call(ctx5(t), sidecarpb.SidecarService_GetTopics_FullMethodName); err != nil {
		t.Fatalf("GetTopics with the token: %v", err)
	}
}

func TestHarnessCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		o := netshell.DefaultOptions()
		self, err := netshell.NewHarness(netshell.HarnessConfig{Options: o, ID: "self"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := ctx5(t)
		if err := self.Open(ctx, sidecarpb.SidecarService_Subscribe_FullMethodName, raw(t, &sidecarpb.SubscribeRequest{Topics: []string{"#"}})); err != nil {
			t.Fatal(err)
		}
		if _, err := self.Call(ctx, sidecarpb.SidecarService_Publish_FullMethodName, raw(t, &sidecarpb.PublishRequest{Topic: "a"})); err != nil {
			t.Fatal(err)
		}
		self.Close()
	}
	// Connections' last goroutines end just after Close returns.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
