package netshell

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Records published as plain runs go to a packed subscriber in runs
// (state.Deliver.More) copied as they came (frame_runs.go), and every
// frame it gets is byte for byte the frame its records encoded one by one
// make: runs broken by a record with a field of its own, by another
// topic, by an empty payload and by a longer length prefix arrive the
// same.
func TestPlainRecordsGoToSubscribersAsTheyCame(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"r/#"}}}})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const total = 4000
	var recs []packed.Record
	for k := range total {
		r := packed.Record{Topic: "r/a", Payload: fmt.Appendf(nil, "m%d", k)}
		switch {
		case k%97 == 5:
			r.ContentType = "text/plain" // not plain: it ends a run
		case k%211 == 9:
			r.Topic = "r/b"
		case k%307 == 11:
			r.Payload = nil
		case k%401 == 13:
			r.Payload = bytes.Repeat([]byte{'x'}, 300) // a longer length prefix
		}
		recs = append(recs, r)
	}
	var got []packed.Record
	var fc frameCheck
	// A frame at a time, each taken whole before the next goes: the
	// subscriber never runs out of credit, so no message waits in its
	// queue, where messages wait one by one (and then go one by one).
	for len(got) < total {
		if len(got)%500 == 0 {
			if err := pub.Send(packedFrame(t, recs[len(got):len(got)+500]...)); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, fc.next(t, sub, len(got))...)
	}
	for k, r := range got {
		want := recs[k]
		if r.Topic != want.Topic || !bytes.Equal(r.Payload, want.Payload) || r.ContentType != want.ContentType {
			t.Fatalf("message %d = %s %q %q, want %s %q %q", k, r.Topic, r.Payload, r.ContentType, want.Topic, want.Payload, want.ContentType)
		}
		if r.Number != uint64(k+1) {
			t.Fatalf("message %d has number %d, want %d", k, r.Number, k+1)
		}
	}
	// Every frame starts with a record encoded alone, and so does every
	// record after one that breaks a run: well over half still go as runs.
	if n := copiedRecords(t, ts); n < total/2 || n >= total {
		t.Errorf("%d of %d records were copied as they came: want most, not all", n, total)
	}
}

// Across two daemons too: what a packed publisher's daemon pushes reaches
// a packed subscriber on the other in runs copied from the push frames
// they came in, each frame it gets the one its records make one by one.
func TestPushedRecordsGoToSubscribersAsTheyCame(t *testing.T) {
	a, b := startPeers(t, nil)
	ctx := ctx5(t)
	sub := subscribePacked(t, ctx, a, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"r/#"}}}})
	waitSynced(t, ctx, b, a)
	pub, err := b.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const total, per = 3000, 500
	got := 0
	var fc frameCheck
	for got < total {
		if got%per == 0 {
			var recs []packed.Record
			for k := got; k < got+per; k++ {
				recs = append(recs, packed.Record{Topic: "r/a", Payload: fmt.Appendf(nil, "m%d", k)})
			}
			if err := pub.Send(packedFrame(t, recs...)); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range fc.next(t, sub, got) {
			if want := fmt.Sprintf("m%d", got); string(r.Payload) != want || r.Source != b.s.ID() {
				t.Fatalf("message %d is %q from %s, want %q from %s", got, r.Payload, r.Source, want, b.s.ID())
			}
			got++
		}
	}
	n := copiedRecords(t, a)
	t.Logf("%d of %d pushed records were copied as they came", n, total)
	if n == 0 || n >= total {
		t.Errorf("%d of %d pushed records were copied as they came: want some, not all", n, total)
	}
}

// A run larger than a frame goes in as many frames as it needs, each
// starting with a record encoded alone and going on with the run's
// records as they came: records of 9 KB, runs of up to 32 of them, frames
// of at most 256 KiB.
func TestARunLargerThanAFrameIsSplitAcrossFrames(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"big"}}}})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const total = 160
	var recs []packed.Record
	for k := range total {
		recs = append(recs, packed.Record{Topic: "big", Payload: append(fmt.Appendf(nil, "m%d:", k), bytes.Repeat([]byte{byte(k)}, 9000)...)})
	}
	if err := pub.Send(packedFrame(t, recs...)); err != nil {
		t.Fatal(err)
	}
	got := 0
	var fc frameCheck
	for got < total {
		for _, r := range fc.next(t, sub, got) {
			if !bytes.Equal(r.Payload, recs[got].Payload) || r.Number != uint64(got+1) {
				t.Fatalf("message %d: %q... number %d", got, r.Payload[:8], r.Number)
			}
			got++
		}
	}
	if fc.frames < total*9000/packedFrameBytes {
		t.Fatalf("%d frames for %d records of 9 KB", fc.frames, total)
	}
	if n := copiedRecords(t, ts); n < total/2 { // a frame starts each split
		t.Fatalf("%d records copied as they came; want most of %d", n, total)
	}
}

// frameCheck reads a packed subscriber's frames and checks each against
// its records encoded one by one, in memory it reuses.
type frameCheck struct {
	dec    packed.Decoder
	enc    packed.Encoder
	frames int
}

// next reads the stream's next frame of live messages (got have arrived
// before it) and returns its records, their payloads their own.
func (c *frameCheck) next(t *testing.T, sub grpc.ServerStreamingClient[sidecarpb.PackedEvent], got int) []packed.Record {
	t.Helper()
	for {
		ev, err := sub.Recv()
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		frame := ev.GetMessages().GetFrame()
		if frame == nil {
			continue
		}
		if len(frame) > packedFrameBytes {
			t.Fatalf("a frame of %d bytes, over %d", len(frame), packedFrameBytes)
		}
		c.frames++
		if err := c.dec.Reset(frame); err != nil {
			t.Fatal(err)
		}
		c.enc.Reset()
		c.enc.Limits = packed.Limits{MaxRecords: packedFrameRecords, MaxFrameBytes: packedFrameBytes}
		var recs []packed.Record
		for c.dec.Next() {
			r := *c.dec.Record()
			r.Payload = bytes.Clone(r.Payload)
			if err := c.enc.Append(&r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		if again := c.enc.AppendFrame(nil); !bytes.Equal(again, frame) {
			t.Fatalf("a frame of %d records differs from its records encoded one by one:\n got %x\nwant %x", c.dec.Count(), frame, again)
		}
		return recs
	}
}

// copiedRecords is the daemon's count of records sent to subscribers as
// they came (nexusd_subscriber_packed_records_as_received_total).
func copiedRecords(t *testing.T, ts *testServer) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^nexusd_subscriber_packed_records_as_received_total (\d+)$`).FindStringSubmatch(httpGet(t, ts, "/metrics"))
	if m == nil {
		t.Fatal("no nexusd_subscriber_packed_records_as_received_total in the metrics")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
