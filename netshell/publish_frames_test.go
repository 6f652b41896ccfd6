package netshell

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// The daemon keeps a packed frame's payloads where gRPC received them
// (state.PublishedBatch.Frame) and recycles the frame once nothing reads
// them: a subscriber still gets every payload as published while later
// frames are received into the buffers of earlier ones.
func TestPackedPayloadsKeptInTheirFramesArriveIntact(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MessageBufferSize = 64 })
	ctx := ctx5(t)
	sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"f/t"}}}})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const frames, perFrame = 40, 256
	got := make(chan []packed.Record, 1)
	go func() {
		var recs []packed.Record
		defer func() { got <- recs }() // also when packedRecords fails the test
		recs, _, _ = packedRecords(t, sub, frames*perFrame)
	}()
	acked := uint64(0)
	for f := range frames {
		recs := make([]packed.Record, perFrame)
		for i := range recs {
			recs[i] = packed.Record{Topic: "f/t", Payload: fmt.Appendf(nil, "frame %d record %d %x", f, i, f*perFrame+i)}
		}
		if err := pub.Send(packedFrame(t, recs...)); err != nil {
			t.Fatal(err)
		}
		// Stay within the credit: wait for the acks of all but two frames.
		for acked+2*perFrame < uint64((f+1)*perFrame) {
			ack, err := pub.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if len(ack.GetFailures()) > 0 {
				t.Fatalf("failures %v", ack.GetFailures())
			}
			acked = ack.GetAccepted()
		}
	}
	recs := <-got
	if len(recs) < frames*perFrame {
		t.Fatalf("%d of %d messages arrived", len(recs), frames*perFrame)
	}
	for k, rec := range recs {
		if want := fmt.Sprintf("frame %d record %d %x", k/perFrame, k%perFrame, k); string(rec.Payload) != want {
			t.Fatalf("message %d: payload %q, want %q", k, rec.Payload, want)
		}
	}
	m := regexp.MustCompile(`(?m)^nexusd_publish_frames_viewed_total (\d+)$`).FindStringSubmatch(httpGet(t, ts, "/metrics"))
	if m == nil {
		t.Fatal("no nexusd_publish_frames_viewed_total in the metrics")
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Errorf("nexusd_publish_frames_viewed_total = 0: no frame's payloads were kept in place")
	}
}
