package fuzz

import (
	"net/netip"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/netshell"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// FuzzBeacon feeds arbitrary datagrams to the discovery listener's
// decoding. A datagram is dropped with a reason or becomes a beacon with a
// usable mesh address, which a node then takes or refuses without harm.
func FuzzBeacon(f *testing.F) {
	for _, b := range []*discoverypb.Beacon{
		{InstanceUuid: "p1", ClusterId: "fuzz", RpcIp: "127.0.0.1", RpcPort: 5671, TopicStateHash: 1, ProtocolVersion: 1, TimestampMs: 1},
		{InstanceUuid: "p2", ClusterId: "fuzz", RpcPort: 5671, ProtocolVersion: 1},
		{InstanceUuid: "p3", ClusterId: "other", RpcIp: "0.0.0.0", RpcPort: 1, ProtocolVersion: 2},
		{InstanceUuid: "p4", ClusterId: "fuzz", RpcIp: "::1", RpcPort: 65535, ProtocolVersion: 1, AuthTag: []byte{1, 2}},
		{InstanceUuid: "p5", RpcIp: "239.255.42.1", RpcPort: 70000},
	} {
		f.Add(marshal(f, b))
	}
	f.Add([]byte{0xff, 0xff, 0xff})
	src := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := netshell.DecodeBeacon(data, src)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("a dropped datagram names no reason")
			}
			return
		}
		ap, perr := netip.ParseAddrPort(b.Addr)
		if perr != nil || !ap.Addr().IsValid() || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() || ap.Port() == 0 {
			t.Fatalf("beacon decoded with mesh address %q", b.Addr)
		}
		d := newDriver(t)
		d.step(&state.BeaconReceived{Beacon: b})
		d.check()
	})
}

// FuzzMeshRequest feeds arbitrary bytes to every mesh RPC's decoding and
// checks, as a peer could send them, then hands what passes to a node that
// knows a peer and has a subscriber: each request is refused with a gRPC
// status that says why, or taken by the node without harm.
func FuzzMeshRequest(f *testing.F) {
	env := &meshpb.MessageEnvelope{MessageId: "m1", Topic: "a/b", Payload: []byte("x"), SourceNodeId: "p1",
		TimestampMs: 1, SourceSequence: 2, PrevSourceSequence: 1}
	seeds := []proto.Message{
		env,
		&meshpb.MessageBatch{Messages: []*meshpb.MessageEnvelope{env, {MessageId: "m2", Topic: "a/b", SourceNodeId: "p1", SourceSequence: 3, PrevSourceSequence: 2, Retain: true}}},
		&meshpb.MessageEnvelope{MessageId: "m3", Topic: "a/+", SourceNodeId: "self", TtlMs: -1},
		&meshpb.ResendRequest{SourceNodeId: "self", Topic: "a/b", FromSequence: 1, ToSequence: 3, RequesterNodeId: "p1"},
		&meshpb.ResendRequest{SourceNodeId: "self", Topic: "a/b", FromSequence: 5, ToSequence: 2},
	}
	fuzzRequests(f, "/nexusd.mesh.", seeds)
}

// FuzzSidecarRequest does the same for every sidecar RPC, as an
// application could send them.
func FuzzSidecarRequest(f *testing.F) {
	pub := &sidecarpb.PublishRequest{Topic: "a/b", Payload: []byte("x"), ContentType: "text/plain", Retain: true, TtlMs: 100}
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
	}
	fuzzRequests(f, "/nexusd.sidecar.", seeds)
}

// fuzzRequests runs one target over the RPCs whose names start with
// prefix; a seed goes to every one of them.
func fuzzRequests(f *testing.F, prefix string, seeds []proto.Message) {
	var methods []string
	for _, m := range netshell.RequestMethods {
		if strings.HasPrefix(m, prefix) {
			methods = append(methods, m)
		}
	}
	for i := range methods {
		for _, s := range seeds {
			f.Add(uint8(i), marshal(f, s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		method := methods[int(which)%len(methods)]
		evs, err := netshell.DecodeRequest(method, data, 1000)
		if err != nil {
			st, ok := status.FromError(err)
			if !ok || st.Code() == codes.OK || st.Code() == codes.Unknown || st.Message() == "" {
				t.Fatalf("%s refused with %v: want a gRPC status with a code and a reason", method, err)
			}
			return
		}
		d := newDriver(t)
		d.prime()
		for _, ev := range evs {
			d.step(ev)
			d.check()
		}
	})
}

// prime gives the node a synced peer p1 that wants everything and a local
// subscriber to everything, so decoded requests have something to act on.
func (d *driver) prime() {
	d.step(&state.BeaconReceived{Beacon: state.Beacon{Instance: "p1", Cluster: "fuzz", Addr: "p1:1",
		Hash: state.TopicStateHash([]string{"#"}), Version: 1}})
	if len(d.fetches) > 0 {
		f := d.fetches[0]
		d.fetches = d.fetches[1:]
		d.step(&state.FetchCompleted{Call: f.Call, State: &state.NodeState{Instance: "p1", Patterns: []string{"#"}}})
	}
	d.step(&state.Subscribed{Stream: 1, Patterns: []string{"#"}, Policy: state.PolicyDefault, Credit: 8})
	d.check()
}

func marshal(tb testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
