package netshell

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// packedFrame encodes records as one frame, failing the test on error.
func packedFrame(t *testing.T, recs ...packed.Record) *sidecarpb.PackedFrame {
	t.Helper()
	var enc packed.Encoder
	for i := range recs {
		if err := enc.Append(&recs[i]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	return &sidecarpb.PackedFrame{Frame: enc.AppendFrame(nil)}
}

// subscribePacked opens a SubscribePacked stream and reads its
// subscription info.
func subscribePacked(t *testing.T, ctx context.Context, ts *testServer, req *sidecarpb.SubscribePackedRequest) grpc.ServerStreamingClient[sidecarpb.PackedEvent] {
	t.Helper()
	st, err := ts.app.SubscribePacked(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if ev.GetEvent().GetSubscriptionInfo() == nil {
		t.Fatalf("first event %v, want subscription info", ev)
	}
	return st
}

// packedRecords reads frames until it has n live messages, as records
// whose strings are copied.
func packedRecords(t *testing.T, st grpc.ServerStreamingClient[sidecarpb.PackedEvent], n int) (recs []packed.Record, ids []string, frames int) {
	t.Helper()
	var dec packed.Decoder
	for len(recs) < n {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(recs), n, err)
		}
		f := ev.GetMessages()
		if f == nil {
			t.Fatalf("event %v, want a frame of live messages", ev)
		}
		frames++
		if err := dec.Reset(f.GetFrame()); err != nil {
			t.Fatal(err)
		}
		for dec.Next() {
			r := *dec.Record()
			r.Payload = append([]byte(nil), r.Payload...)
			ids = append(ids, r.MessageID())
			recs = append(recs, r)
		}
	}
	return recs, ids, frames
}

// What PublishPacked publishes arrives on SubscribePacked in order, with
// this daemon's sequence numbers, its own node as source, ids derived from
// (node, number) as docs/packed.md says, and optional fields kept; many
// messages share a frame.
func TestPackedPublishReachesAPackedSubscriberInOrder(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"p/#"}}}})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const total = 3000
	var recs []packed.Record
	for k := range total {
		r := packed.Record{Topic: fmt.Sprintf("p/%d", k%2), Payload: fmt.Appendf(nil, "m%d", k)}
		if k == 7 {
			r.ContentType, r.Correlation = "text/plain", "c-7"
		}
		recs = append(recs, r)
	}
	for i := 0; i < total; i += 500 {
		if err := pub.Send(packedFrame(t, recs[i:i+500]...)); err != nil {
			t.Fatal(err)
		}
	}
	for acked := uint64(0); acked < total; {
		ack, err := pub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(ack.GetFailures()) > 0 {
			t.Fatalf("failures %v", ack.GetFailures())
		}
		if ack.GetWindow() == 0 || ack.GetAccepted() < acked {
			t.Fatalf("ack %v after accepted %d", ack, acked)
		}
		acked = ack.GetAccepted()
	}
	got, ids, frames := packedRecords(t, sub, total)
	seq := map[string]uint64{}
	for k, r := range got {
		want := recs[k]
		if r.Topic != want.Topic || string(r.Payload) != string(want.Payload) || r.ContentType != want.ContentType || r.Correlation != want.Correlation {
			t.Fatalf("message %d = %s %q %q %q, want %s %q %q %q", k, r.Topic, r.Payload, r.ContentType, r.Correlation,
				want.Topic, want.Payload, want.ContentType, want.Correlation)
		}
		seq[r.Topic]++
		if r.Seq != seq[r.Topic] || r.Source != ts.s.ID() || r.ID != "" || r.TimestampMs == 0 {
			t.Fatalf("message %d: seq %d (want %d), source %s (want %s), explicit id %q, ts %d", k, r.Seq, seq[r.Topic], r.Source, ts.s.ID(), r.ID, r.TimestampMs)
		}
		if wantID := packed.DeriveID(ts.s.ID(), 0, uint64(k+1)).String(); ids[k] != wantID {
			t.Fatalf("message %d id %s, want %s", k, ids[k], wantID)
		}
	}
	if frames >= total/2 {
		t.Errorf("%d messages came in %d frames: frames should hold what accumulated", total, frames)
	}
	// The metrics count the frames and the records in them.
	metrics := httpGet(t, ts, "/metrics")
	for name, want := range map[string]int{"subscriber_packed_frames_total": frames, "subscriber_packed_records_total": total} {
		m := regexp.MustCompile(`(?m)^nexusd_` + name + ` (\d+)$`).FindStringSubmatch(metrics)
		if m == nil {
			t.Fatalf("no nexusd_%s in the metrics", name)
		}
		if n, _ := strconv.Atoi(m[1]); n != want {
			t.Errorf("nexusd_%s = %d, want %d", name, n, want)
		}
	}
}

// A record PublishPacked cannot publish fails by its index, with the
// others published; fields only the daemon sets are refused the same way.
func TestPackedPublishFailsRecordsByIndex(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = pub.Send(packedFrame(t,
		packed.Record{Topic: "ok/1"},
		packed.Record{Topic: "bad/+"},
		packed.Record{Topic: "ok/2", TimestampMs: 5},
		packed.Record{Topic: "ok/3"},
	))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(packedFrame(t, packed.Record{Topic: "ok/4", Seq: 9}, packed.Record{Topic: "ok/5"},
		packed.Record{Topic: "ok/6", Groups: []string{"g"}})); err != nil { // queue groups are the daemons' to choose
		t.Fatal(err)
	}
	var failed []*sidecarpb.PackedFailure
	for acked := uint64(0); acked < 7; {
		ack, err := pub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		failed = append(failed, ack.GetFailures()...)
		acked = ack.GetAccepted()
	}
	want := []uint64{1, 2, 4, 6}
	if len(failed) != len(want) {
		t.Fatalf("failures %v, want indexes %v", failed, want)
	}
	for i, f := range failed {
		if f.GetIndex() != want[i] || codes.Code(f.GetCode()) != codes.InvalidArgument || f.GetRetry() || f.GetReason() == "" {
			t.Errorf("failure %d = %v, want index %d, INVALID_ARGUMENT, no retry, a reason", i, f, want[i])
		}
	}
}

// A frame that is not a valid sourceless frame, or that passes the
// credit, ends the stream with a status naming the fault, and none of its
// records is published.
func TestPackedPublishRefusesBadFramesWhole(t *testing.T) {
	ts := startServer(t, nil)
	sourced := packedFrame(t, packed.Record{Topic: "z/1", Source: "n1", Number: 1})
	truncated := packedFrame(t, packed.Record{Topic: "z/1", Payload: []byte("abc")})
	truncated.Frame = truncated.Frame[:len(truncated.Frame)-1]
	var many []packed.Record
	for range packed.InitialWindow + 1 {
		many = append(many, packed.Record{Topic: "z/1"})
	}
	for _, c := range []struct {
		name  string
		frame *sidecarpb.PackedFrame
		code  codes.Code
	}{
		{"a source table", sourced, codes.InvalidArgument},
		{"a truncated frame", truncated, codes.InvalidArgument},
		{"records beyond the credit", packedFrame(t, many...), codes.ResourceExhausted},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := ctx5(t)
			pub, err := ts.app.PublishPacked(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := pub.Send(c.frame); err != nil {
				t.Fatal(err)
			}
			_, err = pub.Recv()
			if status.Code(err) != c.code || status.Convert(err).Message() == "" {
				t.Fatalf("got %v, want %v with a message", err, c.code)
			}
			t.Log(err)
		})
	}
	var published uint64
	if err := ts.s.loop.query(ctx5(t), func(l *loop) { published = l.node.Status().Counters.Published }); err != nil {
		t.Fatal(err)
	}
	if published != 0 {
		t.Errorf("refused frames published %d messages", published)
	}
}

// A frame refused whole ends the stream only once the records before it
// are processed and acked, in either ack mode: a sender learns which of
// them were taken before it learns why its stream ended.
func TestAPackedStreamEndedByABadFrameAcksWhatCameBefore(t *testing.T) {
	ts := startServer(t, nil)
	truncated := packedFrame(t, packed.Record{Topic: "z/1", Payload: []byte("abc")})
	truncated.Frame = truncated.Frame[:len(truncated.Frame)-1]
	garbage := &sidecarpb.PackedFrame{Frame: []byte{9, 9, 9}}
	var many []packed.Record // past the credit, the first or the one an ack gives
	for range 2*packed.InitialWindow + 1 {
		many = append(many, packed.Record{Topic: "z/1"})
	}
	for _, mode := range []string{"lazy", "frame"} {
		for _, c := range []struct {
			name  string
			frame *sidecarpb.PackedFrame
			code  codes.Code
		}{
			{"a source table", packedFrame(t, packed.Record{Topic: "z/1", Source: "n1", Number: 1}), codes.InvalidArgument},
			{"a truncated frame", truncated, codes.InvalidArgument},
			{"a bad header", garbage, codes.InvalidArgument},
			{"records beyond the credit", packedFrame(t, many...), codes.ResourceExhausted},
		} {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				ctx := metadata.AppendToOutgoingContext(ctx5(t), "nexusd-acks", mode)
				pub, err := ts.app.PublishPacked(ctx)
				if err != nil {
					t.Fatal(err)
				}
				ok := packedFrame(t, packed.Record{Topic: "z/ok", Payload: []byte("a")},
					packed.Record{Topic: "z/ok", Payload: []byte("b")}, packed.Record{Topic: "z/ok", Payload: []byte("c")})
				if err := pub.Send(ok); err != nil {
					t.Fatal(err)
				}
				if err := pub.Send(c.frame); err != nil {
					t.Fatal(err)
				}
				accepted, err := lastAckBeforeEnd(t, func() (uint64, int, error) {
					ack, err := pub.Recv()
					return ack.GetAccepted(), len(ack.GetFailures()), err
				})
				if status.Code(err) != c.code {
					t.Fatalf("the stream ended with %v, want %v", err, c.code)
				}
				if !strings.Contains(err.Error(), "no record of this frame was taken") || !regexp.MustCompile(`records? 3\b`).MatchString(err.Error()) {
					t.Errorf("%v: want the message to say where the frame began and that none of it was taken", err)
				}
				if accepted != 3 {
					t.Fatalf("the last ack before the end counted %d records, want the 3 before the bad frame", accepted)
				}
			})
		}
	}
}

// Small frames are asked for and kept to, but a message larger than a
// frame still arrives, in a frame of its own.
func TestPackedSubscribeKeepsFramesToTheAskedSize(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{MaxFrameBytes: 4096,
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"s/#"}}}})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var recs []packed.Record
	for k := range 200 {
		size := 100
		if k == 150 {
			size = 10000
		}
		recs = append(recs, packed.Record{Topic: "s/x", Payload: make([]byte, size)})
	}
	if err := pub.Send(packedFrame(t, recs...)); err != nil {
		t.Fatal(err)
	}
	var dec packed.Decoder
	for got := 0; got < len(recs); {
		ev, err := sub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		f := ev.GetMessages().GetFrame()
		if err := dec.Reset(f); err != nil {
			t.Fatal(err)
		}
		if len(f) > 4096 && dec.Count() != 1 {
			t.Fatalf("a frame of %d bytes holds %d messages; only a lone large message may pass 4096", len(f), dec.Count())
		}
		for dec.Next() {
			if len(dec.Record().Payload) != len(recs[got].Payload) {
				t.Fatalf("message %d has %d bytes, want %d", got, len(dec.Record().Payload), len(recs[got].Payload))
			}
			got++
		}
	}
}

// A block-policy subscriber loses nothing to a PublishPacked stream that
// uses all of its credit at once: the node holds at least a stream's
// credit of publishes waiting for one blocked subscriber.
func TestPackedPublishAtFullCreditIntoABlockedSubscriberLosesNothing(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sub := subscribeV1(t, ctx, ts, &sidecarpb.SubscribeRequest{Topics: []string{"b/#"}, MaxBufferSize: 16, BackpressurePolicy: "block"})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]packed.Record, packed.InitialWindow)
	for i := range recs {
		recs[i] = packed.Record{Topic: "b/x", Payload: fmt.Appendf(nil, "%d", i)}
	}
	if err := pub.Send(packedFrame(t, recs...)); err != nil {
		t.Fatal(err)
	}
	if err := readCounted(sub, int64(len(recs))); err != nil {
		t.Fatal(err)
	}
}

// Every PackedAck gives a window of publishPackedAckWindow, twice the
// credit before the first: a sender that obeys the acks it reads may have
// that many records unacknowledged, and loses none of them to a blocked
// subscriber, which the node holds them for (BlockedLimit).
func TestPackedAcksGiveTheWiderWindowAndASenderThatUsesItLosesNothing(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sub := subscribeV1(t, ctx, ts, &sidecarpb.SubscribeRequest{Topics: []string{"w/#"}, MaxBufferSize: 16, BackpressurePolicy: "block"})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const total, per = 6 * packed.InitialWindow, 1024
	acks := make(chan *sidecarpb.PackedAck, 64)
	go func() {
		defer close(acks)
		for {
			a, err := pub.Recv()
			if err != nil {
				return
			}
			acks <- a
		}
	}()
	// The subscriber reads only once the publisher has used more than the
	// first credit: until then, all it sent waits for the subscriber.
	sent, accepted, limit, most := 0, uint64(0), uint64(packed.InitialWindow), 0
	read := make(chan error, 1)
	startReading := make(chan struct{})
	go func() {
		<-startReading
		read <- readCounted(sub, total)
	}()
	reading := false
	for sent < total {
		for uint64(sent+per) > limit { // no credit for a frame: wait for an ack
			if !reading && sent > packed.InitialWindow {
				close(startReading)
				reading = true
			}
			select {
			case a, ok := <-acks:
				if !ok {
					t.Fatal("the publish stream ended")
				}
				if a.GetWindow() != publishPackedAckWindow {
					t.Fatalf("ack %v: window %d, want %d", a, a.GetWindow(), publishPackedAckWindow)
				}
				accepted, limit = a.GetAccepted(), a.GetAccepted()+a.GetWindow()
			case err := <-read:
				t.Fatalf("subscriber: %v", err)
			case <-ctx.Done():
				t.Fatalf("no ack with %d records sent, %d accepted", sent, accepted)
			}
		}
		recs := make([]packed.Record, per)
		for i := range recs {
			recs[i] = packed.Record{Topic: "w/x", Payload: fmt.Appendf(nil, "%d", sent+i)}
		}
		if err := pub.Send(packedFrame(t, recs...)); err != nil {
			t.Fatal(err)
		}
		sent += per
		most = max(most, sent-int(accepted))
	}
	if !reading {
		close(startReading)
	}
	if err := <-read; err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	if most <= packed.InitialWindow {
		t.Errorf("at most %d records unacknowledged, want more than the first credit of %d", most, packed.InitialWindow)
	}
}

// While the daemon pushes its publishes to a peer, its acks give the
// first credit only: the publishes go at the pace of the link's push
// window, and more in flight would only wait in its backlog. A sender
// that obeys them loses nothing. Each ack's credit is that of the step
// that answered its publishes, so none is wide however late it goes out
// (it once was, when the peer had answered the pushes by then).
func TestPackedAcksGiveTheFirstCreditWhileThePublishesGoToPeers(t *testing.T) {
	a, b := startPeers(t, nil)
	ctx := ctx5(t)
	sub := subscribeV1(t, ctx, a, &sidecarpb.SubscribeRequest{Topics: []string{"p/#"}})
	waitSynced(t, ctx, b, a)
	pub, err := b.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const frames, per = 16, 512
	narrow, wide := 0, 0
	sent, limit := uint64(0), uint64(packed.InitialWindow)
	for f := range frames {
		for sent+per > limit {
			ack, err := pub.Recv()
			if err != nil {
				t.Fatal(err)
			}
			switch ack.GetWindow() {
			case publishPackedWindow:
				narrow++
			case publishPackedAckWindow:
				wide++
			default:
				t.Fatalf("ack %v: window %d, want %d or %d", ack, ack.GetWindow(), publishPackedWindow, publishPackedAckWindow)
			}
			limit = ack.GetAccepted() + ack.GetWindow()
		}
		recs := make([]packed.Record, per)
		for i := range recs {
			recs[i] = packed.Record{Topic: "p/x", Payload: fmt.Appendf(nil, "%d", f*per+i)}
		}
		if err := pub.Send(packedFrame(t, recs...)); err != nil {
			t.Fatal(err)
		}
		sent += per
	}
	if err := readCounted(sub, frames*per); err != nil {
		t.Fatal(err)
	}
	if narrow == 0 || wide > 0 {
		t.Errorf("%d acks gave the wider window and %d the first credit while the publishes were pushed to a peer, want none and some", wide, narrow)
	}
}

// subscribeV1 opens a v1 subscription and reads its subscription_info.
func subscribeV1(t *testing.T, ctx context.Context, ts *testServer, req *sidecarpb.SubscribeRequest) grpc.ServerStreamingClient[sidecarpb.MessageEvent] {
	t.Helper()
	sub, err := ts.app.Subscribe(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := sub.Recv(); err != nil || ev.GetSubscriptionInfo() == nil {
		t.Fatalf("first event %v, %v", ev, err)
	}
	return sub
}

// readCounted reads n messages from sub, numbered 1, 2, ... with payloads
// "0", "1", ..., and fails on anything else, a backpressure warning
// among them.
func readCounted(sub grpc.ServerStreamingClient[sidecarpb.MessageEvent], n int64) error {
	for seq := int64(1); seq <= n; {
		ev, err := sub.Recv()
		if err != nil {
			return err
		}
		if w := ev.GetBackpressureWarning(); w != nil {
			return fmt.Errorf("after %d messages: %v", seq-1, w)
		}
		for _, m := range append(ev.GetBatch().GetMessages(), ev.GetMessage()) {
			if m == nil {
				continue
			}
			if m.GetSequenceNumber() != seq || string(m.GetPayload()) != fmt.Sprint(seq-1) {
				return fmt.Errorf("message %d/%q, want %d/%q", m.GetSequenceNumber(), m.GetPayload(), seq, fmt.Sprint(seq-1))
			}
			seq++
		}
	}
	return nil
}

// PublishStream ends on a batch over the limit as PublishPacked does on a
// bad frame: once the requests before it are answered and acked.
func TestAPublishStreamEndedByAnOversizeBatchAcksWhatCameBefore(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxPublishBatch = 8 })
	ps, err := ts.app.PublishStream(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	batch := func(n int) *sidecarpb.PublishBatch {
		b := &sidecarpb.PublishBatch{}
		for range n {
			b.Requests = append(b.Requests, &sidecarpb.PublishRequest{Topic: "v/ok", Payload: []byte("x")})
		}
		return b
	}
	if err := ps.Send(batch(3)); err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(batch(9)); err != nil {
		t.Fatal(err)
	}
	accepted, err := lastAckBeforeEnd(t, func() (uint64, int, error) {
		ack, err := ps.Recv()
		return ack.GetAccepted(), len(ack.GetFailures()), err
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "split it") {
		t.Fatalf("the stream ended with %v, want INVALID_ARGUMENT asking to split the batch", err)
	}
	if accepted != 3 {
		t.Fatalf("the last ack before the end counted %d requests, want the 3 before the oversize batch", accepted)
	}
}

// max_batch shapes MessageEvents: Subscribe and ResumeSubscribe refuse a
// negative one, and SubscribePacked, which sends frames, ignores it.
func TestMaxBatchIsCheckedWhereItIsUsedAndIgnoredOnPackedStreams(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	v1, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"mb/#"}, MaxBatch: -1})
	if err == nil {
		_, err = v1.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "max_batch -1") {
		t.Fatalf("Subscribe with max_batch -1: %v, want INVALID_ARGUMENT naming it", err)
	}
	res, err := ts.app.ResumeSubscribe(ctx, &sidecarpb.ResumeSubscribeRequest{Topics: []string{"mb/#"}, MaxBatch: -1})
	if err == nil {
		_, err = res.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "max_batch -1") {
		t.Fatalf("ResumeSubscribe with max_batch -1: %v, want INVALID_ARGUMENT naming it", err)
	}
	sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"mb/#"}, MaxBatch: -1}}})
	resumed := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Resume{Resume: &sidecarpb.ResumeSubscribeRequest{Topics: []string{"mb/#"}, MaxBatch: -1}}})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(packedFrame(t, packed.Record{Topic: "mb/x", Payload: []byte("m")})); err != nil {
		t.Fatal(err)
	}
	for _, st := range []grpc.ServerStreamingClient[sidecarpb.PackedEvent]{sub, resumed} {
		if recs, _, _ := packedRecords(t, st, 1); string(recs[0].Payload) != "m" {
			t.Fatalf("got %q, want the message published", recs[0].Payload)
		}
	}
}

// lastAckBeforeEnd reads a publish stream's acks (recv: the next one's
// count and failures) until it ends, and returns the last count and the
// error it ended with. No ack may report a failure.
func lastAckBeforeEnd(t *testing.T, recv func() (accepted uint64, failures int, err error)) (uint64, error) {
	t.Helper()
	var last uint64
	for {
		accepted, failures, err := recv()
		if err != nil {
			return last, err
		}
		if failures > 0 {
			t.Fatalf("an ack counting %d reported %d failures; the records before the refused frame were good", accepted, failures)
		}
		last = accepted
	}
}

// Every ack of a stream whose frames mix refused and published records
// is one a sender's check accepts: failures only among the records it
// newly counts, in order.
func TestEveryPackedAckPassesTheSendersCheck(t *testing.T) {
	ts := startServer(t, nil)
	pub, err := ts.app.PublishPacked(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	recs := []packed.Record{{Topic: "x/1", TimestampMs: 5}} // a timestamp: the daemon sets those
	for range 100 {
		recs = append(recs, packed.Record{Topic: "x/1", Payload: []byte("p")})
	}
	sent := uint64(0)
	for range 20 {
		if err := pub.Send(packedFrame(t, recs...)); err != nil {
			t.Fatal(err)
		}
		sent += uint64(len(recs))
	}
	for prev := uint64(0); prev < sent; {
		m, err := pub.Recv()
		if err != nil {
			t.Fatal(err)
		}
		a := packed.Ack{Accepted: m.GetAccepted(), Window: m.GetWindow()}
		for _, f := range m.GetFailures() {
			a.Failures = append(a.Failures, packed.Failure{Index: f.GetIndex()})
		}
		if err := a.Check(prev, sent); err != nil {
			t.Fatalf("ack %v: %v", m, err)
		}
		prev = a.Accepted
	}
}

// However many messages wait for a packed subscriber, a frame carries at
// most 1024 of them.
func TestAPackedSubscribersFramesHoldAtMost1024Records(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
		Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"f/#"}}}})
	pub, err := ts.app.PublishPacked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]packed.Record, 1024)
	for i := range recs {
		recs[i] = packed.Record{Topic: "f/x", Payload: []byte("p")}
	}
	const frames = 4 // the first credit
	for range frames {
		if err := pub.Send(packedFrame(t, recs...)); err != nil {
			t.Fatal(err)
		}
	}
	var dec packed.Decoder
	most := 0
	for got := 0; got < frames*len(recs); {
		ev, err := sub.Recv()
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		if err := dec.Reset(ev.GetMessages().GetFrame()); err != nil {
			t.Fatal(err)
		}
		got += dec.Count()
		most = max(most, dec.Count())
	}
	if most > packedFrameRecords {
		t.Fatalf("a frame of %d records; at most %d", most, packedFrameRecords)
	}
}
