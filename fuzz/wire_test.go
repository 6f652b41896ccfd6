package fuzz

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/netshell"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// The wire targets drive a real daemon (netshell.Harness: the node, the
// loop and the mesh and sidecar gRPC servers as the daemon builds them,
// over in-memory connections) with bytes as a peer or an application
// could send them. Each iteration gets a fresh pair of daemons, so a
// failing input replays on its own.

// FuzzBeacon feeds arbitrary datagrams to the discovery listener's path
// (decode, drop with a reason, or hand the beacon to the loop). The
// daemon must not panic, and afterwards its node is consistent and knows
// every peer at a usable mesh address. It has no cluster key, so no
// datagram makes it know a peer anywhere but where a datagram came from
// (no reflection, SPEC §6).
func FuzzBeacon(f *testing.F) {
	for _, b := range []*discoverypb.Beacon{
		{InstanceUuid: "p1", ClusterId: "fuzz", RpcIp: "127.0.0.1", RpcPort: 5671, TopicStateHash: 1, ProtocolVersion: 1, TimestampMs: 1},
		{InstanceUuid: "p6", ClusterId: "fuzz", RpcIp: "10.9.9.9", RpcPort: 5671, TopicStateHash: 1, ProtocolVersion: 1},
		{InstanceUuid: "p2", ClusterId: "fuzz", RpcPort: 5671, ProtocolVersion: 1},
		{InstanceUuid: "p3", ClusterId: "other", RpcIp: "0.0.0.0", RpcPort: 1, ProtocolVersion: 2},
		{InstanceUuid: "p4", ClusterId: "fuzz", RpcIp: "::1", RpcPort: 65535, ProtocolVersion: 1, AuthTag: []byte{1, 2}},
		{InstanceUuid: "p5", RpcIp: "239.255.42.1", RpcPort: 70000},
	} {
		f.Add(marshal(f, b))
	}
	f.Add([]byte{0xff, 0xff, 0xff})
	src := netip.MustParseAddrPort("127.0.0.1:5670")
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDaemon(t)
		d.self.Datagram(data, src)
		d.check()
		d.peersOnlyAt(p1Addr.Addr(), src.Addr())
	})
}

// peersOnlyAt requires self to know every peer at one of hosts.
func (d *daemon) peersOnlyAt(hosts ...netip.Addr) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var peers []state.PeerInfo
	if err := d.self.Query(ctx, func(n *state.Node) { peers = n.Peers() }); err != nil {
		d.t.Fatal(err)
	}
	for _, p := range peers {
		if ap, err := netip.ParseAddrPort(p.Addr); err != nil || !slices.Contains(hosts, ap.Addr()) {
			d.t.Fatalf("peer %s known at %s, where no datagram came from (%v)", p.ID, p.Addr, hosts)
		}
	}
}

// FuzzMeshRequest calls every mesh RPC with arbitrary request frames, as a
// peer could send them, on a daemon that knows a peer and has a
// subscriber; PushPacked gets packed frames among its seeds, so mutations
// reach the frame decoder behind the real handler. Each call is refused with a gRPC status that says why, or
// taken without harm.
func FuzzMeshRequest(f *testing.F) {
	env := &meshpb.MessageEnvelope{MessageId: "m1", Topic: "a/b", Payload: []byte("x"), SourceNodeId: "p1",
		TimestampMs: 1, SourceSequence: 2, PrevSourceSequence: 1, ReplyTo: "_inbox/p1/r/1"}
	seeds := []proto.Message{
		env,
		&meshpb.MessageBatch{Messages: []*meshpb.MessageEnvelope{env, {MessageId: "m2", Topic: "a/b", SourceNodeId: "p1", SourceSequence: 3, PrevSourceSequence: 2, Retain: true}}},
		&meshpb.MessageEnvelope{MessageId: "m3", Topic: "a/+", SourceNodeId: "self", TtlMs: -1},
		&meshpb.ResendRequest{SourceNodeId: "self", Topic: "a/b", FromSequence: 1, ToSequence: 3, RequesterNodeId: "p1"},
		&meshpb.ResendRequest{SourceNodeId: "self", Topic: "a/b", FromSequence: 5, ToSequence: 2},
		&meshpb.PackedPush{Frame: packedFrame(f,
			packed.Record{Topic: "a/b", Payload: []byte("x"), Source: "p1", Number: 1, Seq: 2, PrevSeq: 1, TimestampMs: 1, ReplyTo: "_inbox/p1/r/1"},
			packed.Record{Topic: "_inbox/self/r/1", Payload: []byte("reply"), Source: "p1", Number: 3, Seq: 1, TimestampMs: 1},
			packed.Record{Topic: "a/b", Source: "p1", Number: 2, Seq: 3, TimestampMs: 1, Retain: true, ContentType: "text/plain"},
			packed.Record{Topic: "c", Payload: []byte("y"), Source: "p1", ID: "m9", Seq: 9, PrevSeq: 4, DroppedFrom: 3, TTLMs: 50, TimestampMs: 7},
			packed.Record{Topic: "a/+", Source: "self", Number: 5, SyncOnly: true, Correlation: "c"}), SentAtMs: 1},
		&meshpb.PackedPush{Frame: packedFrame(f, packed.Record{Topic: "a/b", Payload: []byte("sourceless")})},
	}
	fuzzRequests(f, &meshpb.MeshService_ServiceDesc, seeds)
}

// packedFrame encodes records as one packed frame, a PushPacked seed.
func packedFrame(tb testing.TB, recs ...packed.Record) []byte {
	var e packed.Encoder
	for i := range recs {
		if err := e.Append(&recs[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return e.AppendFrame(nil)
}

// FuzzSidecarRequest does the same for every sidecar RPC, as an
// application could send them.
func FuzzSidecarRequest(f *testing.F) {
	pub := &sidecarpb.PublishRequest{Topic: "a/b", Payload: []byte("x"), ContentType: "text/plain", Retain: true, TtlMs: 100, ReplyTo: "_inbox/self/r/1"}
	seeds := []proto.Message{
		pub,
		&sidecarpb.PublishBatch{Requests: []*sidecarpb.PublishRequest{pub, {Topic: "a/#"}, {Topic: ""}}},
		&sidecarpb.SubscribeRequest{Topics: []string{"a/#", "+/b"}, ClientId: "c", ReceiveRetained: true, MaxBufferSize: 3, BackpressurePolicy: "block", MaxBatch: 8},
		&sidecarpb.SubscribeRequest{Topics: []string{"a"}, BackpressurePolicy: "sideways", MaxBatch: -1},
		&sidecarpb.ResumeSubscribeRequest{SubscriptionId: "s1", LastSequencePerTopic: map[string]int64{"a/b": 3, "c": -1}},
		&sidecarpb.ResumeSubscribeRequest{Topics: []string{"a/#"}, GapRecoveryMode: sidecarpb.GapRecoveryMode_GAP_RECOVERY_RETAINED_ONLY},
		&sidecarpb.UnsubscribeRequest{SubscriptionId: "s1", Pause: true},
		&sidecarpb.UnsubscribeRequest{},
		&sidecarpb.GetPeersRequest{IncludeState: true},
		&sidecarpb.PackedFrame{Frame: packedFrame(f,
			packed.Record{Topic: "a/b", Payload: []byte("x")},
			packed.Record{Topic: "a/b", ContentType: "text/plain", Correlation: "c", TTLMs: 100, Retain: true},
			packed.Record{Topic: "a/#", Payload: []byte("bad topic")},
			packed.Record{Topic: "_inbox/p1/r/1", Payload: []byte("reply"), ReplyTo: "_inbox/self/r/2"},
			packed.Record{Topic: "c", Seq: 4, TimestampMs: 9})},
		&sidecarpb.PackedFrame{Frame: packedFrame(f, packed.Record{Topic: "a/b", Source: "p1", Number: 1})},
		&sidecarpb.SubscribePackedRequest{MaxFrameBytes: 2048, Open: &sidecarpb.SubscribePackedRequest_Subscribe{
			Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"a/#"}, ReceiveRetained: true}}},
		&sidecarpb.SubscribePackedRequest{Open: &sidecarpb.SubscribePackedRequest_Resume{
			Resume: &sidecarpb.ResumeSubscribeRequest{SubscriptionId: "s1"}}},
		&sidecarpb.SubscribePackedRequest{MaxFrameBytes: 5},
		&sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Subscribe{Subscribe: &sidecarpb.SessionSubscribe{Ref: 1, Window: 2,
			Request: &sidecarpb.SubscribeRequest{Topics: []string{"a/#"}, ReceiveRetained: true, ResumeWindowMs: 1000}}}},
		&sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Resume{Resume: &sidecarpb.SessionResume{Ref: 2,
			Request: &sidecarpb.ResumeSubscribeRequest{SubscriptionId: "s1"}}}},
		&sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Credit{Credit: &sidecarpb.SessionCredit{SubscriptionId: "s1", Messages: 3}}},
		&sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Unsubscribe{Unsubscribe: &sidecarpb.UnsubscribeRequest{SubscriptionId: "s1", Pause: true}}},
	}
	fuzzRequests(f, &sidecarpb.SidecarService_ServiceDesc, seeds)
}

// fuzzRequests runs one target over every RPC of a service: which picks
// the RPC (modulo their number), frames holds the request frames (see
// splitFrames). Every seed goes to every RPC as one frame, and all seeds
// together as a stream of frames.
func fuzzRequests(f *testing.F, sd *grpc.ServiceDesc, seeds []proto.Message) {
	methods := methodsOf(sd)
	all := make([][]byte, len(seeds))
	for i, s := range seeds {
		all[i] = marshal(f, s)
	}
	for i := range methods {
		for _, s := range all {
			f.Add(uint8(i), joinFrames(s))
		}
		f.Add(uint8(i), joinFrames(all...))
	}
	f.Fuzz(func(t *testing.T, which uint8, frames []byte) {
		method := methods[int(which)%len(methods)]
		d := newDaemon(t)
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, err := d.self.Call(ctx, method, splitFrames(frames)...)
		if err != nil {
			st, ok := status.FromError(err)
			switch {
			case !ok || st.Code() == codes.OK || st.Code() == codes.Unknown || st.Message() == "":
				t.Fatalf("%s refused with %v: want a gRPC status with a code and a reason", method, err)
			case st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled:
				t.Fatalf("%s gave no answer within %s: %v", method, callTimeout, err)
			}
		}
		d.check()
	})
}

// callTimeout is how long a call may take before the daemon counts as
// hung; calls take microseconds.
const callTimeout = 10 * time.Second

// methodsOf lists a service's RPCs by full name, from its generated
// descriptor: unary ones first, then streams.
func methodsOf(sd *grpc.ServiceDesc) []string {
	var out []string
	for _, m := range sd.Methods {
		out = append(out, "/"+sd.ServiceName+"/"+m.MethodName)
	}
	for _, s := range sd.Streams {
		out = append(out, "/"+sd.ServiceName+"/"+s.StreamName)
	}
	return out
}

// splitFrames reads request frames from one fuzz input: each frame is
// prefixed with its length as a uvarint; a piece whose prefix does not
// parse or fit is the last frame, whole. No input is no frame (a unary
// call then sends an empty message).
func splitFrames(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n, k := binary.Uvarint(data)
		if k <= 0 || n > uint64(len(data)-k) {
			return append(out, data)
		}
		out = append(out, data[k:k+int(n)])
		data = data[k+int(n):]
	}
	return out
}

// joinFrames is splitFrames' inverse.
func joinFrames(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = binary.AppendUvarint(out, uint64(len(f)))
		out = append(out, f...)
	}
	return out
}

// daemon is the daemon under test, "self", and its peer "p1", both in
// cluster "fuzz".
type daemon struct {
	t        *testing.T
	self, p1 *netshell.Harness
}

// p1Addr is where self reaches p1's mesh server.
var p1Addr = netip.MustParseAddrPort("127.0.0.2:5671")

var subscribeMethod = sidecarpb.SidecarService_Subscribe_FullMethodName

// newDaemon starts self and p1 and primes self through the real paths, so
// requests have something to act on: p1 subscribes to everything, self
// hears p1's beacon, fetches its state over the mesh, and has a local
// subscriber to everything. Both stop when the test ends, self first.
func newDaemon(t *testing.T) *daemon {
	t.Helper()
	d := &daemon{t: t}
	d.p1 = startHarness(t, "p1", 2)
	d.self = startHarness(t, "self", 1)
	d.self.Link(p1Addr.String(), d.p1)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	everything := marshal(t, &sidecarpb.SubscribeRequest{Topics: []string{"#"}, ClientId: "fuzz"})
	if err := d.p1.Open(ctx, subscribeMethod, everything); err != nil {
		t.Fatalf("p1 subscribing to #: %v", err)
	}
	var hash uint64
	if err := d.p1.Query(ctx, func(n *state.Node) { hash = n.Hash() }); err != nil {
		t.Fatal(err)
	}
	beacon := marshal(t, &discoverypb.Beacon{InstanceUuid: "p1", ClusterId: "fuzz", RpcIp: p1Addr.Addr().String(),
		RpcPort: int32(p1Addr.Port()), TopicStateHash: hash, ProtocolVersion: 1, TimestampMs: time.Now().UnixMilli()})
	if dropped := d.self.Datagram(beacon, netip.AddrPortFrom(p1Addr.Addr(), 5670)); dropped != "" {
		t.Fatalf("p1's beacon dropped: %s", dropped)
	}
	d.waitFor(ctx, "self to sync p1's subscription to #", func(n *state.Node) bool {
		pats, ok := n.PeerPatterns("p1")
		synced, _ := n.SyncedHash("p1")
		return ok && synced == hash && len(pats) == 1 && pats[0] == "#"
	})
	if err := d.self.Open(ctx, subscribeMethod, everything); err != nil {
		t.Fatalf("self subscribing to #: %v", err)
	}
	d.check()
	return d
}

func startHarness(t *testing.T, id string, seed uint64) *netshell.Harness {
	t.Helper()
	o := netshell.DefaultOptions()
	o.Cluster = "fuzz"
	h, err := netshell.NewHarness(netshell.HarnessConfig{Options: o, ID: id, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// waitFor polls the node until cond holds, failing the test at ctx's end.
func (d *daemon) waitFor(ctx context.Context, what string, cond func(*state.Node) bool) {
	d.t.Helper()
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	for {
		var ok bool
		if err := d.self.Query(ctx, func(n *state.Node) { ok = cond(n) }); err != nil {
			d.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			d.t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// check requires both nodes to be consistent (checkNode) and to know
// their peers at usable mesh addresses.
func (d *daemon) check() {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	for _, h := range []*netshell.Harness{d.self, d.p1} {
		var err error
		if qerr := h.Query(ctx, func(n *state.Node) { err = checkDaemonNode(n) }); qerr != nil {
			d.t.Fatalf("%s: %v", h.ID(), qerr)
		}
		if err != nil {
			d.t.Fatalf("%s: %v", h.ID(), err)
		}
	}
}

// checkDaemonNode is checkNode, and every peer at an address a beacon may
// announce: valid, not unspecified, not multicast, a port.
func checkDaemonNode(n *state.Node) error {
	if err := checkNode(n); err != nil {
		return err
	}
	for _, p := range n.Peers() {
		ap, err := netip.ParseAddrPort(p.Addr)
		if err != nil || !ap.Addr().IsValid() || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() || ap.Port() == 0 {
			return fmt.Errorf("peer %s known at mesh address %q", p.ID, p.Addr)
		}
	}
	return nil
}

func marshal(tb testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
