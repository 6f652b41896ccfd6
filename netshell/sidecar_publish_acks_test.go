package netshell

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// By default every answer wakes the answering goroutine and every move of
// accepted is acked, as before lazy acks.
func TestAckPolicyByDefaultAcksEveryMove(t *testing.T) {
	var a ackPolicy
	if !a.answered(1, false) {
		t.Fatal("an answer did not wake the answering goroutine")
	}
	if !a.due(1, false, false) {
		t.Fatal("accepted moved to 1 and no ack is due")
	}
	if a.due(1, false, false) {
		t.Fatal("an ack is due though accepted did not move")
	}
	if !a.due(2, false, false) {
		t.Fatal("accepted moved to 2 and no ack is due")
	}
}

// A lazy stream wakes and acks for lazyAckRecords, a failure, or an ask;
// an ask is answered even when accepted has not moved.
func TestAckPolicyLazyAcksForCreditFailuresAndAsks(t *testing.T) {
	a := ackPolicy{lazy: true}
	for i := range lazyAckRecords - 1 {
		if a.answered(1, false) {
			t.Fatalf("answer %d woke the answering goroutine: no ack is due", i+1)
		}
	}
	if a.due(lazyAckRecords-1, false, false) {
		t.Fatalf("an ack is due at %d records, below lazyAckRecords", lazyAckRecords-1)
	}
	if !a.answered(1, false) || !a.due(lazyAckRecords, false, false) {
		t.Fatalf("lazyAckRecords (%d records) processed and no ack", lazyAckRecords)
	}

	// A failure wakes it, and keeps waking it until it is reported.
	if !a.answered(1, true) {
		t.Fatal("a failure did not wake the answering goroutine")
	}
	if a.due(lazyAckRecords, false, true) { // its frame is not processed yet
		t.Fatal("an ack is due before the failure's frame is processed")
	}
	if !a.answered(1, false) {
		t.Fatal("an answer after an unreported failure did not wake the answering goroutine")
	}
	if !a.due(lazyAckRecords+2, true, false) {
		t.Fatal("the failure's frame is processed and no ack reports it")
	}
	if a.answered(1, false) {
		t.Fatal("an answer woke the answering goroutine though the failure was reported")
	}

	// An ask: answered once accepted reaches it, even without a move.
	a.ask(lazyAckRecords + 3)
	if !a.answered(1, false) {
		t.Fatal("an answer did not wake the answering goroutine while an ack is asked for")
	}
	if a.due(lazyAckRecords+2, false, false) {
		t.Fatal("the ask is answered before the records before it are processed")
	}
	if !a.due(lazyAckRecords+3, false, false) {
		t.Fatal("the records before the ask are processed and no ack answers it")
	}
	a.ask(lazyAckRecords + 3)
	if !a.due(lazyAckRecords+3, false, false) {
		t.Fatal("a second ask with nothing new processed got no ack")
	}
	if a.due(lazyAckRecords+3, false, false) {
		t.Fatal("an ack is due with no ask, no failure and no move")
	}
}

// On a PublishPacked stream with lazy acks, frames processed earn no ack
// of their own: the first ack answers the empty frame that asks, counting
// every record before it; the stream's end acks what came after.
func TestPackedPublishWithLazyAcksAcksWhenAsked(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"lazy"}}}})
	pub, err := ts.app.PublishPacked(metadata.AppendToOutgoingContext(ctx, acksHeader, ackLazily))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	for k := range n {
		if err := pub.Send(packedFrame(t, packed.Record{Topic: "lazy", Payload: []byte{byte(k)}})); err != nil {
			t.Fatal(err)
		}
		packedRecords(t, sub, 1) // processed before the next is sent
	}
	if err := pub.Send(packedFrame(t)); err != nil { // no records: asks for an ack
		t.Fatal(err)
	}
	ack, err := pub.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ack.GetAccepted() != n || ack.GetWindow() != publishPackedAckWindow {
		t.Fatalf("first ack %v, want accepted %d (the ask's answer, every frame before it counted) and window %d", ack, n, publishPackedAckWindow)
	}
	if err := pub.Send(packedFrame(t, packed.Record{Topic: "lazy"}, packed.Record{Topic: "lazy"})); err != nil {
		t.Fatal(err)
	}
	packedRecords(t, sub, 2)
	if err := pub.CloseSend(); err != nil {
		t.Fatal(err)
	}
	ack, err = pub.Recv()
	if err != nil || ack.GetAccepted() != n+2 {
		t.Fatalf("after the end: ack %v, err %v; want accepted %d", ack, err, n+2)
	}
	if ack, err := pub.Recv(); err == nil {
		t.Fatalf("another ack %v after the last, want the stream's end", ack)
	}
}

// A lazy stream reports a failure at once, without waiting for half the
// window or an ask.
func TestPackedPublishWithLazyAcksReportsFailuresAtOnce(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	pub, err := ts.app.PublishPacked(metadata.AppendToOutgoingContext(ctx, acksHeader, ackLazily))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(packedFrame(t, packed.Record{Topic: "ok"}, packed.Record{Topic: "bad/+"})); err != nil {
		t.Fatal(err)
	}
	ack, err := pub.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ack.GetAccepted() != 2 || len(ack.GetFailures()) != 1 || ack.GetFailures()[0].GetIndex() != 1 {
		t.Fatalf("ack %v, want accepted 2 with record 1 failed", ack)
	}
}

// An unknown choice of acks fails the call with INVALID_ARGUMENT naming
// the header and its values.
func TestPackedPublishRefusesAnUnknownAckMode(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	pub, err := ts.app.PublishPacked(metadata.AppendToOutgoingContext(ctx, acksHeader, "sometimes"))
	if err == nil {
		_, err = pub.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), acksHeader) || !strings.Contains(err.Error(), ackLazily) {
		t.Fatalf("err %v, want INVALID_ARGUMENT naming %s and its values", err, acksHeader)
	}
}
