package netshell

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// pushOf is what a link keeps of e (outPush.set).
func pushOf(e *state.Push) (o outPush) {
	o.set(e)
	return o
}

// set fills every field of what the link keeps of a push, over whatever
// the slot held.
func TestOutPushSetsEveryField(t *testing.T) {
	if n := reflect.TypeFor[outPush]().NumField(); n != 5 {
		t.Fatalf("outPush has %d fields: set the new ones in outPush.set, and here", n)
	}
	m := &state.Message{}
	e := &state.Push{Call: 1, Peer: "p", Addr: "a", Msg: m, Prev: 9, DroppedFrom: 5, SyncOnly: true, Groups: []string{"g"}}
	want := outPush{msg: m, prev: 9, droppedFrom: 5, syncOnly: true, groups: []string{"g"}}
	o := outPush{msg: &state.Message{}, prev: 1, droppedFrom: 1, groups: []string{"stale"}}
	o.set(e)
	if !reflect.DeepEqual(o, want) || o.msg != m {
		t.Fatalf("set %+v, want %+v", o, want)
	}
}

func sampleEnvelope(topic string, seq uint64) state.Envelope {
	return state.Envelope{ID: "id-" + topic, Topic: topic, Payload: []byte("payload"),
		TimestampMs: 1_700_000_000_123, Source: "source-node", Retain: true, TTLMs: 5000, SourceSeq: seq,
		PrevSeq: seq / 2, SyncOnly: seq%2 == 1,
		Extras: &state.Extras{ContentType: "text/plain", Correlation: "corr", DroppedFrom: seq / 4}}
}

func roundTrip[M proto.Message](t *testing.T, m M, fresh M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, fresh); err != nil {
		t.Fatal(err)
	}
	return fresh
}

func TestEnvelopesSurviveTheWire(t *testing.T) {
	e := sampleEnvelope("a/b", 42)
	got := envelopeFromProto(roundTrip(t, envelopeToProto(&e), &meshpb.MessageEnvelope{}))
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip gave %+v, want %+v", got, e)
	}
}

func TestNodeStatesSurviveTheWire(t *testing.T) {
	st := &state.NodeState{Instance: "n1", Patterns: []string{"a/#", "b/+"}, Hash: state.TopicStateHash([]string{"a/#", "b/+"}),
		Retained: []state.Envelope{sampleEnvelope("a/x", 1), sampleEnvelope("b/y", 2)}}
	got := nodeStateFromProto(roundTrip(t, nodeStateToProto(st), &meshpb.NodeState{}))
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip gave %+v, want %+v", got, st)
	}
	// A v1 peer may leave the envelope's topic to the map key.
	pb := nodeStateToProto(st)
	pb.RetainedMessages["a/x"].Topic = ""
	if got := nodeStateFromProto(pb); got.Retained[0].Topic != "a/x" {
		t.Fatalf("topic from the key: got %q", got.Retained[0].Topic)
	}
}

func TestResendsSurviveTheWire(t *testing.T) {
	req := &state.RequestResend{Call: 9, Peer: "src", Topic: "t", From: 3, To: 7}
	got, err := resendRequestFromProto(5, roundTrip(t, resendRequestToProto(req, "me"), &meshpb.ResendRequest{}))
	if err != nil || *got != (state.ResendRequested{Req: 5, Source: "src", Requester: "me", Topic: "t", From: 3, To: 7}) {
		t.Fatalf("request round trip gave %+v", got)
	}
	reply := &state.ResendReply{Instance: "src", Msgs: []state.Envelope{sampleEnvelope("t", 3), sampleEnvelope("t", 4)}, FirstAvailable: 2, FirstSent: 3}
	if got := resendReplyFromProto(roundTrip(t, resendReplyToProto(reply), &meshpb.ResendResponse{})); !reflect.DeepEqual(got, reply) {
		t.Fatalf("reply round trip gave %+v, want %+v", got, reply)
	}
}

func TestBeaconsSurviveTheWireAndFallBackToTheSourceAddress(t *testing.T) {
	src := netip.MustParseAddr("192.0.2.7")
	b := state.Beacon{Instance: "n1", Cluster: "c", Addr: "192.0.2.7:5671", Hash: 0xfeed, Version: 1, WallMs: 1234}
	data, err := encodeBeacon(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, reason := decodeBeacon(data, src, "c", nil); reason != "" || got != b {
		t.Fatalf("round trip gave %+v (%s), want %+v", got, reason, b)
	}
	for _, advertised := range []string{":5671", "0.0.0.0:5671"} {
		b.Addr = advertised
		data, _ := encodeBeacon(b, nil)
		if got, _ := decodeBeacon(data, src, "c", nil); got.Addr != "192.0.2.7:5671" {
			t.Errorf("advertised %q: peer address %q, want the source 192.0.2.7:5671", advertised, got.Addr)
		}
	}
	bad := []struct {
		data   []byte
		reason string
	}{
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, dropUndecodable},
		{mustMarshal(&discoverypb.Beacon{InstanceUuid: "x", ClusterId: "c", RpcIp: "10.0.0.1", RpcPort: 0}), dropBadAddress},
		{mustMarshal(&discoverypb.Beacon{InstanceUuid: "x", ClusterId: "c", RpcIp: "not-an-ip", RpcPort: 1}), dropBadAddress},
		{mustMarshal(&discoverypb.Beacon{InstanceUuid: "x", ClusterId: "c", RpcIp: "239.1.1.1", RpcPort: 1}), dropBadAddress},
		{mustMarshal(&discoverypb.Beacon{InstanceUuid: "x", ClusterId: "other", RpcIp: "10.0.0.1", RpcPort: 1}), dropForeignCluster},
		{mustMarshal(&discoverypb.Beacon{InstanceUuid: "x", ClusterId: "c", RpcIp: "10.0.0.1", RpcPort: 1, AuthTag: make([]byte, 32)}), dropKeyed},
		// unsigned, naming another address than the one it came from
		{mustMarshal(&discoverypb.Beacon{InstanceUuid: "x", ClusterId: "c", RpcIp: "10.0.0.1", RpcPort: 1}), dropAddressMismatch},
	}
	for _, c := range bad {
		if _, reason := decodeBeacon(c.data, src, "c", nil); reason != c.reason {
			t.Errorf("%x: reason %q, want %q", c.data, reason, c.reason)
		}
	}
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestStreamEventsMapToTheirOneofFields(t *testing.T) {
	msg := &state.Message{Envelope: sampleEnvelope("a/b", 1), Seq: 77}
	cases := []struct {
		out   state.Out
		check func(*sidecarpb.MessageEvent) bool
	}{
		{state.Out{Kind: state.OutInfo, Info: &state.SubscriptionInfo{SubID: "s", Patterns: []string{"a/#"}, WallMs: 5, GapDetected: true, Missed: -1, ReplayStarted: true}},
			func(e *sidecarpb.MessageEvent) bool {
				i := e.GetSubscriptionInfo()
				return i.GetSubscriptionId() == "s" && i.GetMissedMessageCount() == -1 && i.GetGapDetected() && i.GetReplayStarted() && i.GetTimestampMs() == 5
			}},
		{state.Out{Kind: state.OutMessage, Msg: msg}, func(e *sidecarpb.MessageEvent) bool {
			m := e.GetMessage()
			return m.GetSequenceNumber() == 77 && m.GetMessageId() == msg.ID && string(m.GetPayload()) == "payload" &&
				m.GetCorrelationId() == "corr" && m.GetSourceNodeId() == "source-node" && m.GetContentType() == "text/plain"
		}},
		{state.Out{Kind: state.OutRetained, Msg: msg}, func(e *sidecarpb.MessageEvent) bool { return e.GetRetainedMessage().GetSequenceNumber() == 77 }},
		{state.Out{Kind: state.OutReplay, Msg: msg}, func(e *sidecarpb.MessageEvent) bool { return e.GetReplayMessage().GetSequenceNumber() == 77 }},
		{state.Out{Kind: state.OutReplayComplete, Done: &state.ReplayDone{Topic: "a/b", Count: 3, Latest: 80}}, func(e *sidecarpb.MessageEvent) bool {
			d := e.GetReplayComplete()
			return d.GetTopic() == "a/b" && d.GetReplayedCount() == 3 && d.GetLatestSequence() == 80
		}},
		{state.Out{Kind: state.OutHeartbeat, WallMs: 99}, func(e *sidecarpb.MessageEvent) bool { return e.GetHeartbeat().GetTimestampMs() == 99 }},
		{state.Out{Kind: state.OutWarning, Warning: &state.Warning{Dropped: 10, Expired: 2, Lost: 3, Depth: 5, Limit: 8, Reason: "slow_consumer", OldestAgeMs: 30}},
			func(e *sidecarpb.MessageEvent) bool {
				w := e.GetBackpressureWarning()
				return w.GetMessagesDropped() == 10 && w.GetMessagesExpired() == 2 && w.GetMessagesLost() == 3 && w.GetQueueDepth() == 5 &&
					w.GetQueueLimit() == 8 && w.GetReason() == "slow_consumer" && w.GetOldestMessageAgeMs() == 30
			}},
	}
	for _, c := range cases {
		if ev := outToProto(&c.out); !c.check(ev) {
			t.Errorf("%s became %v", c.out, ev)
		}
	}
	b := batchToProto([]state.Out{{Kind: state.OutMessage, Msg: msg}, {Kind: state.OutMessage, Msg: msg}})
	if len(b.GetBatch().GetMessages()) != 2 {
		t.Errorf("batch: %v", b)
	}
}

func TestSubscribeRequestsBecomeEvents(t *testing.T) {
	ev, err := subscribeFromProto(3, 256, &sidecarpb.SubscribeRequest{Topics: []string{"a"}, ClientId: "c", ReceiveRetained: true,
		MaxBufferSize: 10, BackpressurePolicy: "drop-newest"})
	if err != nil || ev.Policy != state.DropNewest || ev.QueueLimit != 10 || ev.Credit != 256 || !ev.ReceiveRetained || ev.ClientID != "c" {
		t.Fatalf("got %+v, %v", ev, err)
	}
	if ev, _ := subscribeFromProto(3, 1, &sidecarpb.SubscribeRequest{Topics: []string{"a"}}); ev.Policy != state.PolicyDefault {
		t.Fatalf("no policy given: %v, want the node's default", ev.Policy)
	}
	if _, err := subscribeFromProto(3, 1, &sidecarpb.SubscribeRequest{BackpressurePolicy: "x"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad policy: %v", err)
	}
	r, err := resumeFromProto(4, 8, &sidecarpb.ResumeSubscribeRequest{SubscriptionId: "s", LastSequencePerTopic: map[string]int64{"a": 5},
		GapRecoveryMode: sidecarpb.GapRecoveryMode_GAP_RECOVERY_REPLAY_BUFFER})
	if err != nil || r.Mode != state.RecoverReplay || r.LastSeq["a"] != 5 || r.SubID != "s" {
		t.Fatalf("resume: %+v, %v", r, err)
	}
	if _, err := resumeFromProto(4, 8, &sidecarpb.ResumeSubscribeRequest{SubscriptionId: "s", LastSequencePerTopic: map[string]int64{"a": -1}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("negative sequence: %v", err)
	}
	r, err = resumeFromProto(4, 8, &sidecarpb.ResumeSubscribeRequest{Topics: []string{"a"}, ClientId: "c", MaxBufferSize: 10, BackpressurePolicy: "block"})
	if err != nil || r.Policy != state.Block || r.QueueLimit != 10 || r.ClientID != "c" {
		t.Fatalf("resume by topics with settings: %+v, %v", r, err)
	}
	if _, err := resumeFromProto(4, 8, &sidecarpb.ResumeSubscribeRequest{Topics: []string{"a"}, BackpressurePolicy: "x"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("resume with a bad policy: %v", err)
	}
	if _, err := resumeFromProto(4, 8, &sidecarpb.ResumeSubscribeRequest{Topics: []string{"a"}, MaxBufferSize: -1}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("resume with a negative queue: %v", err)
	}
	for _, mode := range []sidecarpb.GapRecoveryMode{3, 9, 256, -1} {
		_, err := resumeFromProto(4, 8, &sidecarpb.ResumeSubscribeRequest{SubscriptionId: "s", GapRecoveryMode: mode})
		if want := fmt.Sprintf("gap_recovery_mode %d is unknown", int32(mode)); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), want) {
			t.Fatalf("resume with gap_recovery_mode %d: %v; want InvalidArgument naming it (%q)", mode, err, want)
		}
	}
}

func TestRefusalsMapToTheSpecsCodes(t *testing.T) {
	for code, want := range map[state.Code]codes.Code{state.Invalid: codes.InvalidArgument, state.NotFound: codes.NotFound,
		state.Limit: codes.ResourceExhausted, state.Unavailable: codes.Unavailable} {
		err := statusOf(&state.Error{Code: code, Msg: "what to do"})
		if s, _ := status.FromError(err); s.Code() != want || s.Message() != "what to do" {
			t.Errorf("%s became %v, want %s", code, err, want)
		}
	}
	if statusOf(nil) != nil || grpcCode(errors.New("x")) != codes.Internal {
		t.Error("nil or foreign errors mapped wrongly")
	}
	for c, want := range map[codes.Code]string{codes.InvalidArgument: "INVALID_ARGUMENT", codes.OK: "OK",
		codes.ResourceExhausted: "RESOURCE_EXHAUSTED", codes.NotFound: "NOT_FOUND"} {
		if got := codeName(c); got != want {
			t.Errorf("codeName(%s) = %s, want %s", c, got, want)
		}
	}
	if got := publishResultToProto(&state.PublishResult{MessageID: "m", Subscribers: 3, Dropped: 1, Blocked: 2}); !got.GetSuccess() ||
		got.GetErrorMessage() != "" || got.GetSubscriberCount() != 3 || got.GetSubscribersDropped() != 1 || got.GetSubscribersBlocked() != 2 {
		t.Errorf("publish result: %v", got)
	}
	p := peerToProto(&state.PeerInfo{ID: "p", Addr: "1.2.3.4:5", Status: state.Suspected, LastSeenMs: 9, Hash: 7, Patterns: []string{"x"}}, "c", false)
	if p.GetStatus() != "suspected" || p.GetTopics() != nil || p.GetClusterId() != "c" || p.GetEndpoint() != "1.2.3.4:5" {
		t.Errorf("peer: %v", p)
	}
}

// A queued push keeps the node's message by pointer and its own fields
// beside it: the frame and the v1 envelope carry the push's predecessor,
// dropped-from claim, sync-only mark and groups, not the message's.
func TestAPushCarriesItsOwnFieldsNotItsMessages(t *testing.T) {
	m := &state.Message{Envelope: state.Envelope{
		ID: packed.DeriveID("src", 0, 12).String(), Topic: "t/1", Payload: []byte("p"), Source: "src",
		SourceSeq: 12, PrevSeq: 2, TimestampMs: 1700000000000,
		Extras: &state.Extras{DroppedFrom: 1, QueueGroups: []string{"stale"}}, // as received, not as pushed on
	}}
	o := pushOf(&state.Push{Call: 1, Peer: "p", Addr: "a", Msg: m, Prev: 9, DroppedFrom: 5, SyncOnly: true, Groups: []string{"g"}})
	var r packed.Record
	var split packed.IDSplitter
	if err := packRecord(&r, &o, &split); err != nil {
		t.Fatal(err)
	}
	if r.PrevSeq != 9 || r.DroppedFrom != 5 || !r.SyncOnly || fmt.Sprint(r.Groups) != "[g]" || r.Seq != 12 || r.Number != 12 {
		t.Errorf("record: prev=%d dropped=%d sync=%v groups=%v seq=%d number=%d", r.PrevSeq, r.DroppedFrom, r.SyncOnly, r.Groups, r.Seq, r.Number)
	}
	env := o.envelope(&wireNames{})
	if env.PrevSeq != 9 || env.DroppedFrom() != 5 || !env.SyncOnly || fmt.Sprint(env.QueueGroups()) != "[g]" || env.ID != m.ID || env.SourceSeq != 12 {
		t.Errorf("envelope: %+v", env)
	}
	if m.PrevSeq != 2 || m.DroppedFrom() != 1 || m.SyncOnly || fmt.Sprint(m.QueueGroups()) != "[stale]" {
		t.Errorf("the message was written: %+v", m.Envelope)
	}
}

// A link's envelopes carry the ids WireID renders, for its own messages
// by number, a peer's and one rendered already, and it hashes a source
// when the source changes, not for each push.
func TestEnvelopeIDsAreWireIDsWithTheSourceHashedOnce(t *testing.T) {
	var names wireNames
	msgs := []*state.Message{
		{Envelope: state.Envelope{Source: "me", IDNum: 1}},
		{Envelope: state.Envelope{Source: "me", IDNum: packed.MaxNumber}},
		{Envelope: state.Envelope{Source: "peer", IDNum: 7}},
		{Envelope: state.Envelope{Source: "me", ID: "0f1e2d3c-4b5a-4697-8877-665544332211"}},
		{Envelope: state.Envelope{Source: "me", IDNum: 2}},
	}
	for i, m := range msgs {
		o := pushOf(&state.Push{Msg: m})
		if got, want := o.envelope(&names).ID, m.WireID(); got != want {
			t.Errorf("push %d: id %q, want %q", i, got, want)
		}
	}
	for k := range uint64(100) {
		o := pushOf(&state.Push{Msg: &state.Message{Envelope: state.Envelope{Source: "me", IDNum: 3 + k}}})
		o.envelope(&names)
	}
	if names.hashes != 3 { // me, peer, me again
		t.Errorf("hashed a source %d times for 104 pushes of two sources taken in turn once, want 3", names.hashes)
	}
}

// A message's id travels as its number when the node says which number it
// is derived from (IDNum), and as itself otherwise. The receiving side
// says the number again and leaves a derived id unrendered (the node
// renders it if something reads the string), but a retained value's,
// which the node compares by id; the same id comes back either way.
func TestDerivedIDsTravelAsNumbersAndComeBackWhole(t *testing.T) {
	derived := state.Envelope{ID: packed.DeriveID("src", 0, 77).String(), IDNum: 77, Topic: "t", Payload: []byte("a"), Source: "src", SourceSeq: 1}
	unsaid := derived // derived, but the node did not say: read out of the id
	unsaid.IDNum, unsaid.SourceSeq = 0, 2
	unsaid.ID = packed.DeriveID("src", 0, 78).String()
	random := state.Envelope{ID: "0f1e2d3c-4b5a-4697-8877-665544332211", Topic: "t", Payload: []byte("b"), Source: "src", SourceSeq: 3}
	retained := derived
	retained.ID, retained.IDNum, retained.SourceSeq, retained.Retain = packed.DeriveID("src", 0, 79).String(), 79, 4, true
	envs := packedPushRoundTrip(t, derived, unsaid, random, retained)
	for i, want := range []struct {
		id       string
		num      uint64
		rendered bool
	}{{derived.ID, 77, false}, {unsaid.ID, 78, false}, {random.ID, 0, true}, {retained.ID, 79, true}} {
		if envs[i].MessageID() != want.id || envs[i].IDNum != want.num || (envs[i].ID != "") != want.rendered {
			t.Errorf("envelope %d: id %q (%s) number %d, want %s and %d, rendered %v", i, envs[i].ID, envs[i].MessageID(), envs[i].IDNum, want.id, want.num, want.rendered)
		}
	}
}

// packedPushRoundTrip packs envs as pushes into one PushPacked frame and
// reads the frame back as the receiving daemon does.
func packedPushRoundTrip(t *testing.T, envs ...state.Envelope) []state.Envelope {
	t.Helper()
	var enc packed.Encoder
	var split packed.IDSplitter
	for _, e := range envs {
		var r packed.Record
		o := asPush(e)
		if err := packRecord(&r, &o, &split); err != nil {
			t.Fatal(err)
		}
		if err := enc.Append(&r); err != nil {
			t.Fatal(err)
		}
	}
	var fr pushFrameReader
	got, err := fr.envelopes(enc.AppendFrame(nil), nil)
	if err != nil || len(got) != len(envs) {
		t.Fatalf("packed push read back: %d envelopes of %d, %v", len(got), len(envs), err)
	}
	return got
}

// A push stream packs every push into the one record it reuses, so what
// one push sets must not show in the next one's record.
func TestAReusedRecordCarriesOnlyItsPush(t *testing.T) {
	full := &state.Message{Envelope: state.Envelope{
		ID: "0f1e2d3c-4b5a-4697-8877-665544332211", Topic: "t/1", Payload: []byte("p"), Source: "src", SourceSeq: 4,
		TTLMs: 900, Retain: true, TimestampMs: 1700000000000,
		Extras: &state.Extras{ContentType: "text/plain", Correlation: "c", ReplyTo: "_inbox/r"},
	}}
	bare := &state.Message{Envelope: state.Envelope{IDNum: 5, Topic: "t/2", Payload: []byte("q"), Source: "src", SourceSeq: 5}}
	pushes := []outPush{
		pushOf(&state.Push{Call: 1, Msg: full, Prev: 3, DroppedFrom: 2, SyncOnly: true, Groups: []string{"g"}}),
		pushOf(&state.Push{Call: 2, Msg: bare}),
		pushOf(&state.Push{Call: 3, Msg: full}),
	}
	var reused packed.Record
	var split packed.IDSplitter
	for i := range pushes {
		var fresh packed.Record
		if err := packRecord(&fresh, &pushes[i], &split); err != nil {
			t.Fatal(err)
		}
		if err := packRecord(&reused, &pushes[i], &split); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%+v", reused) != fmt.Sprintf("%+v", fresh) {
			t.Errorf("push %d into a reused record:\n got %+v\nwant %+v", i, reused, fresh)
		}
	}
}
