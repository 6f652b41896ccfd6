package netshell

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// reply_to crosses every boundary between proto, packed records and the
// core: sidecar publishes, mesh envelopes (v1 pushes, resends and node
// states share the v1 envelope; packed pushes), and messages to v1
// subscribers. (Packed publishes and subscriptions: the next test.)
func TestReplyToSurvivesEveryConversion(t *testing.T) {
	const to = "_inbox/n1/c1/7"

	var pub state.Published
	publishInto(&pub, 1, &sidecarpb.PublishRequest{Topic: "svc/time", ReplyTo: to})
	if _, _, replyTo := pub.Extras.Texts(); replyTo != to {
		t.Fatalf("v1 publish: reply_to %q", replyTo)
	}

	e := sampleEnvelope("svc/time", 4)
	e.Edit().ReplyTo = to
	if got := envelopeFromProto(roundTrip(t, envelopeToProto(&e), &meshpb.MessageEnvelope{})); got.ReplyTo() != to {
		t.Fatalf("v1 envelope: reply_to %q", got.ReplyTo())
	}

	reply := &state.ResendReply{Instance: "src", Msgs: []state.Envelope{e}}
	if got := resendReplyFromProto(roundTrip(t, resendReplyToProto(reply), &meshpb.ResendResponse{})); got.Msgs[0].ReplyTo() != to {
		t.Fatalf("resend: reply_to %q", got.Msgs[0].ReplyTo())
	}

	var r packed.Record
	var split packed.IDSplitter
	e.ID = packed.DeriveID(e.Source, 0, 9).String()
	o := asPush(e)
	if err := packRecord(&r, &o, &split); err != nil {
		t.Fatal(err)
	}
	var enc packed.Encoder
	if err := enc.Append(&r); err != nil {
		t.Fatal(err)
	}
	var fr pushFrameReader
	envs, err := fr.envelopes(enc.AppendFrame(nil), nil)
	if err != nil || len(envs) != 1 || envs[0].ReplyTo() != to {
		t.Fatalf("packed push: %+v, %v", envs, err)
	}

	m := &state.Message{Envelope: e, Seq: 3}
	if got := messageToProto(m); got.GetReplyTo() != to {
		t.Fatalf("v1 message: reply_to %q", got.GetReplyTo())
	}
}

// A publish's reply_to reaches a subscriber on v1 and packed streams, and
// one that is no inbox topic is refused naming it.
func TestReplyToFromPublishToSubscriber(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	inbox := "_inbox/" + ts.s.ID() + "/c1/1"
	v1, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"svc/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, v1, 1)
	pk := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"svc/#"}}}})

	if _, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "svc/a", Payload: []byte("1"), ReplyTo: inbox}); err != nil {
		t.Fatal(err)
	}
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(packedFrame(t, packed.Record{Topic: "svc/b", Payload: []byte("2"), ReplyTo: inbox})); err != nil {
		t.Fatal(err)
	}
	if ack, err := pub.Recv(); err != nil || len(ack.GetFailures()) != 0 {
		t.Fatalf("packed publish: %v, %v", ack, err)
	}
	for i, ev := range recvUntil(t, v1, 2) {
		if got := ev.GetMessage().GetReplyTo(); got != inbox {
			t.Fatalf("v1 message %d: reply_to %q", i, got)
		}
	}
	recs, _, _ := packedRecords(t, pk, 2)
	for i, r := range recs {
		if r.ReplyTo != inbox {
			t.Fatalf("packed message %d: reply_to %q", i, r.ReplyTo)
		}
	}

	_, err = ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "svc/a", ReplyTo: "svc/answers"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "reply_to") {
		t.Fatalf("bad reply_to: %v", err)
	}
	_, err = ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: inbox, Retain: true, Payload: []byte("x")})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("retain on an inbox topic: %v", err)
	}
}

// Two daemons on loopback, over packed pushes and over the batch stream: a
// message to a's inbox published on b reaches a's subscriber with its
// reply_to, as soon as b knows a as a peer; b's own subscription to
// everything gets nothing of it.
func TestInboxMessagesCrossTheMesh(t *testing.T) {
	for _, packedOn := range []bool{true, false} {
		t.Run("packed="+strconv.FormatBool(packedOn), func(t *testing.T) {
			a, b := startPeers(t, func(o *Options) { o.MeshPacked = packedOn })
			ctx := ctx5(t)
			inbox := "_inbox/" + a.s.ID() + "/c1/"
			sub, err := a.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{inbox + "#"}})
			if err != nil {
				t.Fatal(err)
			}
			recvUntil(t, sub, 1)
			all, err := b.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"#"}})
			if err != nil {
				t.Fatal(err)
			}
			recvUntil(t, all, 1)
			until(t, "b to know a", func() (ok bool) {
				if err := b.s.loop.query(ctx, func(l *loop) { ok = l.node.KnowsPeer(a.s.ID()) }); err != nil {
					t.Fatal(err)
				}
				return ok
			})
			for i := 1; i <= 3; i++ {
				r, err := b.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: inbox + strconv.Itoa(i), Payload: []byte("reply"),
					ReplyTo: "_inbox/" + b.s.ID() + "/back/1", CorrelationId: "c"})
				if err != nil || r.GetSubscriberCount() != 1 {
					t.Fatalf("publish %d to a's inbox: %v, %v", i, r, err)
				}
			}
			for i, ev := range recvUntil(t, sub, 3) {
				m := ev.GetMessage()
				if m.GetTopic() != inbox+strconv.Itoa(i+1) || m.GetReplyTo() != "_inbox/"+b.s.ID()+"/back/1" || m.GetCorrelationId() != "c" {
					t.Fatalf("message %d: %v", i, m)
				}
			}
			// b's # subscription: a marker published after the replies is
			// the first thing it gets.
			if _, err := b.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "marker"}); err != nil {
				t.Fatal(err)
			}
			if m := recvUntil(t, all, 1)[0].GetMessage(); m.GetTopic() != "marker" {
				t.Fatalf("b's # subscription got %v", m)
			}
		})
	}
}
