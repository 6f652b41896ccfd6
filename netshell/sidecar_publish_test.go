package netshell

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestAPublishStreamFrameIsOneEventAndReusedFramesKeepTheirMessages: each
// PublishStream frame reaches the loop as one event, and frames whose
// events are reused (each sent once the one before is answered, in sizes
// that grow and shrink) deliver every message with its own topic and
// payload, and fail each bad request by its position.
func TestAPublishStreamFrameIsOneEventAndReusedFramesKeepTheirMessages(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	events := func() uint64 {
		var n uint64
		if err := ts.s.loop.query(ctx, func(l *loop) { n = l.stats.Events }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sizes := []int{3, 5, 2, 8, 1, 8, 4}
	// publish sends the frames one at a time, each after the one before is
	// answered, and returns the failures' stream positions. Request k of
	// the stream goes to r/<k mod 3>, or is refused when k mod 7 is 6.
	publish := func() []uint64 {
		ps, err := ts.app.PublishStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var failed []uint64
		k := 0
		for _, n := range sizes {
			batch := &sidecarpb.PublishBatch{}
			for range n {
				topic := fmt.Sprintf("r/%d", k%3)
				if k%7 == 6 {
					topic = "r/+"
				}
				batch.Requests = append(batch.Requests, &sidecarpb.PublishRequest{Topic: topic, Payload: fmt.Appendf(nil, "%03d", k)})
				k++
			}
			if err := ps.Send(batch); err != nil {
				t.Fatal(err)
			}
			for acked := false; !acked; {
				ack, err := ps.Recv()
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range ack.GetFailures() {
					failed = append(failed, f.GetIndex())
				}
				acked = ack.GetAccepted() == uint64(k)
			}
		}
		ps.CloseSend()
		if _, err := ps.Recv(); err == nil {
			t.Fatalf("an ack after every request was answered")
		}
		return failed
	}
	total, want := 0, []uint64(nil)
	for _, n := range sizes {
		total += n
	}
	for k := range total {
		if k%7 == 6 {
			want = append(want, uint64(k))
		}
	}

	// No subscriber: nothing else steps events.
	before := events()
	failed := publish()
	if got := events() - before; got != uint64(len(sizes)) {
		t.Errorf("the loop stepped %d events for %d frames of %d publishes, want one a frame", got, len(sizes), total)
	}
	if fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("failures at %v, want %v", failed, want)
	}

	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"r/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1)
	if failed := publish(); fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("with a subscriber: failures at %v, want %v", failed, want)
	}
	var got, expect []string
	for k := range total {
		if k%7 != 6 {
			expect = append(expect, fmt.Sprintf("r/%d %03d", k%3, k))
		}
	}
	for _, ev := range recvUntil(t, st, len(expect)) {
		m := ev.GetMessage()
		got = append(got, m.GetTopic()+" "+string(m.GetPayload()))
	}
	if fmt.Sprint(got) != fmt.Sprint(expect) {
		t.Fatalf("subscriber got\n%v\nwant\n%v", got, expect)
	}
}

// A PublishStream's batches reach the node as they arrived, each kept in
// gRPC's buffer until it is answered and the node gives it back
// (PublishedBatch.Frame), and their buffers and events are used again
// however many a client has in flight: every payload still arrives as it
// was sent, though a buffer given back reads as 0xdd in tests (TestMain).
// A batch let go while the node still read payloads in it would deliver
// 0xdd, or another batch's.
func TestPublishStreamBatchesAreBorrowedUntilAnswered(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MessageBufferSize = 64 })
	ctx := ctx5(t)
	const batches, per, size = 32, 64, 512
	payload := func(k int) []byte {
		p := bytes.Repeat([]byte{byte(k)}, size)
		binary.BigEndian.PutUint32(p, uint32(k))
		return p
	}
	topic := func(k int) string { return fmt.Sprintf("b/%d", k/per%2) } // a run of one topic a batch
	// build builds a round's batches, numbered from first.
	build := func(first int) []*sidecarpb.PublishBatch {
		var out []*sidecarpb.PublishBatch
		for k := first; k < first+batches*per; k += per {
			batch := &sidecarpb.PublishBatch{}
			for i := range per {
				batch.Requests = append(batch.Requests, &sidecarpb.PublishRequest{Topic: topic(k + i), Payload: payload(k + i)})
			}
			out = append(out, batch)
		}
		return out
	}
	// round sends every batch before reading an ack, so that many are in
	// flight, and returns once all are answered.
	round := func(all []*sidecarpb.PublishBatch) {
		ps, err := ts.app.PublishStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range all {
			if err := ps.Send(batch); err != nil {
				t.Fatal(err)
			}
		}
		for {
			ack, err := ps.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if len(ack.GetFailures()) > 0 {
				t.Fatalf("failures %v", ack.GetFailures())
			}
			if ack.GetAccepted() == batches*per {
				break
			}
		}
		ps.CloseSend()
	}

	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"b/#"}, MaxBatch: 256})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1)
	const total = 2 * batches * per
	read := make(chan error, 1)
	go func() { // reads as they come: the stream's queue never fills
		k := 0
		for k < total {
			ev, err := st.Recv()
			if err != nil {
				read <- fmt.Errorf("after %d messages: %w", k, err)
				return
			}
			for _, m := range append(ev.GetBatch().GetMessages(), ev.GetMessage()) {
				if m == nil {
					continue
				}
				if !bytes.Equal(m.GetPayload(), payload(k)) || m.GetTopic() != topic(k) {
					read <- fmt.Errorf("message %d: topic %q, payload % x..., want %s and its own", k, m.GetTopic(), m.GetPayload()[:8], topic(k))
					return
				}
				k++
			}
		}
		read <- nil
	}()
	round(build(0)) // its buffers and events are used again by the next
	round(build(batches * per))
	if err := <-read; err != nil {
		t.Fatal(err)
	}
}
