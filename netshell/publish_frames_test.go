package netshell

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/meshpb"
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
	if n := viewedFrames(t, ts); n == 0 {
		t.Errorf("nexusd_frames_viewed_total = 0: no frame's payloads were kept in place")
	}
}

// Pushed frames are lent to the node as publish frames are: a subscriber
// gets every payload of many PushPacked frames of one-topic runs as the
// peer sent it, while later frames are received into the buffers of
// earlier ones.
func TestPushedPayloadsKeptInTheirFramesArriveIntact(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MessageBufferSize = 64 })
	ctx := ctx5(t)
	sub, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"m/#"}, MaxBatch: 256})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, sub, 1)
	st := pushPacked(t, ts)
	const frames, perFrame = 40, 128
	payload := func(k int) string { return fmt.Sprintf("pushed %d of frame %d", k, k/perFrame) }
	got := make(chan []string, 1)
	go func() {
		var out []string
		defer func() { got <- out }()
		for len(out) < frames*perFrame {
			ev, err := sub.Recv()
			if err != nil {
				return
			}
			for _, m := range append(ev.GetBatch().GetMessages(), ev.GetMessage()) {
				if m != nil {
					out = append(out, string(m.GetPayload()))
				}
			}
		}
	}()
	for f := range frames {
		recs := make([]packed.Record, perFrame)
		for i := range recs {
			k := f*perFrame + i
			recs[i] = packed.Record{Seq: uint64(k + 1), PrevSeq: uint64(k), Number: uint64(k + 1), Payload: []byte(payload(k))}
		}
		if err := st.Send(&meshpb.PackedPush{Frame: frame(t, recs...)}); err != nil {
			t.Fatal(err)
		}
		a, err := st.Recv()
		if err != nil || len(a.GetFailures()) > 0 {
			t.Fatalf("frame %d: %v, %v", f, a, err)
		}
	}
	out := <-got
	if len(out) < frames*perFrame {
		t.Fatalf("%d of %d messages arrived", len(out), frames*perFrame)
	}
	for k, p := range out {
		if p != payload(k) {
			t.Fatalf("message %d: payload %q, want %q", k, p, payload(k))
		}
	}
	if n := viewedFrames(t, ts); n == 0 {
		t.Error("nexusd_frames_viewed_total = 0: no pushed frame's payloads were kept in place")
	}
}

// viewedFrames reads nexusd_frames_viewed_total.
func viewedFrames(t *testing.T, ts *testServer) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^nexusd_frames_viewed_total (\d+)$`).FindStringSubmatch(httpGet(t, ts, "/metrics"))
	if m == nil {
		t.Fatal("no nexusd_frames_viewed_total in the metrics")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
