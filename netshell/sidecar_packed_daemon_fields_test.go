package netshell

import (
	"strings"

	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// A PublishPacked record carrying an explicit message id or the sync-only
// flag, which only the daemon sets, fails by its index with INVALID_ARGUMENT.
func TestAPackedPublishOfAnExplicitIDOrSyncOnlyFailsByIndex(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(packedFrame(t,
		packed.Record{Topic: "ok/1"},
		packed.Record{Topic: "ok/2", ID: "my-id"},
		packed.Record{Topic: "ok/3"},
		packed.Record{Topic: "ok/4", SyncOnly: true},
	)); err != nil {
		t.Fatal(err)
	}
	var failed []*sidecarpb.PackedFailure
	for acked := uint64(0); acked < 4; {
		ack, err := pub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		failed = append(failed, ack.GetFailures()...)
		acked = ack.GetAccepted()
	}
	want := []uint64{1, 3}
	if len(failed) != len(want) {
		t.Fatalf("failures %v, want indexes %v", failed, want)
	}
	for i, f := range failed {
		if f.GetIndex() != want[i] || codes.Code(f.GetCode()) != codes.InvalidArgument || f.GetRetry() {
			t.Errorf("failure %d = %v, want index %d, INVALID_ARGUMENT, no retry", i, f, want[i])
		}
	}
}

// A record published with RETAIN on PublishPacked is kept as the topic's
// retained value, which a later subscription opens with.
func TestAPackedPublishWithRetainIsRetained(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(packedFrame(t, packed.Record{Topic: "keep/a", Payload: []byte("v"), Retain: true})); err != nil {
		t.Fatal(err)
	}
	for acked := uint64(0); acked < 1; {
		ack, err := pub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(ack.GetFailures()) > 0 {
			t.Fatalf("failures %v", ack.GetFailures())
		}
		acked = ack.GetAccepted()
	}
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"keep/#"}, ReceiveRetained: true})
	if err != nil {
		t.Fatal(err)
	}
	evs := recvUntil(t, st, 2)
	if m := evs[1].GetRetainedMessage(); m == nil || string(m.GetPayload()) != "v" || m.GetTopic() != "keep/a" {
		t.Fatalf("event %v, want the retained value of keep/a", evs[1])
	}
}

// The status ending a PublishPacked stream at a malformed record names
// that record's index on the stream, not its frame's first record's.
func TestAMalformedPackedRecordIsNamedByItsStreamIndex(t *testing.T) {
	ts := startServer(t, nil)
	pub, err := ts.app.PublishPacked(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(packedFrame(t, packed.Record{Topic: "z/1"}, packed.Record{Topic: "z/2"})); err != nil {
		t.Fatal(err)
	}
	// Records 2 and 3 of the stream; record 3's topic index is out of range.
	bad := &sidecarpb.PackedFrame{Frame: []byte{packed.Version, 2, 0, 0, 1, 1, 't', 0, 2, 0, 0, 2, 0, 1}}
	if err := pub.Send(bad); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := pub.Recv()
		if err == nil {
			continue
		}
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "(stream record 3)") {
			t.Fatalf("got %v, want INVALID_ARGUMENT naming stream record 3", err)
		}
		return
	}
}
