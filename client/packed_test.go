package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// packedFake is a sidecar server with PublishPacked and SubscribePacked
// (or, with noPacked, one that answers them Unimplemented as an older
// daemon does) and the v1 calls, counting the calls of each.
type packedFake struct {
	sidecarpb.UnimplementedSidecarServiceServer
	noPacked bool
	noStream bool // PublishStream too answers Unimplemented: only the unary calls

	mu       sync.Mutex
	instance string
	calls    map[string]int
	got      []packed.Record             // what PublishPacked received, in order (copies)
	v1       []*sidecarpb.PublishRequest // what PublishStream received, in order
	unary    []*sidecarpb.PublishRequest // what Publish received, in order
	// fail, if set, refuses the PublishPacked record at a stream index.
	fail func(index uint64, r *packed.Record) *sidecarpb.PackedFailure
	// publish, if set, serves PublishPacked in place of the default.
	publish func(grpc.BidiStreamingServer[sidecarpb.PackedFrame, sidecarpb.PackedAck]) error
	// subscribe serves SubscribePacked after counting it.
	subscribe func(*sidecarpb.SubscribePackedRequest, grpc.ServerStreamingServer[sidecarpb.PackedEvent]) error
	// resumes are the ResumeSubscribeRequests SubscribePacked received.
	resumes []*sidecarpb.ResumeSubscribeRequest
}

func (f *packedFake) count(rpc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[rpc]++
}

func (f *packedFake) Calls(rpc string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[rpc]
}

func (f *packedFake) header(ctx context.Context) {
	f.mu.Lock()
	inst := f.instance
	f.mu.Unlock()
	if inst != "" {
		_ = grpc.SendHeader(ctx, metadata.Pairs(instanceHeader, inst))
	}
}

func (f *packedFake) PublishPacked(st grpc.BidiStreamingServer[sidecarpb.PackedFrame, sidecarpb.PackedAck]) error {
	f.count("PublishPacked")
	if f.noPacked {
		return status.Error(codes.Unimplemented, "unknown method PublishPacked")
	}
	f.header(st.Context())
	if f.publish != nil {
		return f.publish(st)
	}
	var dec packed.Decoder
	var accepted uint64
	for {
		fr, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := dec.Reset(fr.GetFrame()); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if dec.Sources() != 0 {
			return status.Error(codes.InvalidArgument, "a source table on PublishPacked")
		}
		ack := &sidecarpb.PackedAck{}
		for dec.Next() {
			r := *dec.Record()
			r.Payload = bytes.Clone(r.Payload)
			f.mu.Lock()
			f.got = append(f.got, r)
			fail := f.fail
			f.mu.Unlock()
			if fail != nil {
				if pf := fail(accepted, &r); pf != nil {
					pf.Index = accepted
					ack.Failures = append(ack.Failures, pf)
				}
			}
			accepted++
		}
		ack.Accepted, ack.Window = accepted, packed.InitialWindow
		if err := st.Send(ack); err != nil {
			return err
		}
	}
}

func (f *packedFake) PublishStream(st grpc.BidiStreamingServer[sidecarpb.PublishBatch, sidecarpb.PublishAck]) error {
	f.count("PublishStream")
	if f.noStream {
		return status.Error(codes.Unimplemented, "unknown method PublishStream")
	}
	f.header(st.Context())
	var accepted uint64
	for {
		b, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.v1 = append(f.v1, b.GetRequests()...)
		f.mu.Unlock()
		accepted += uint64(len(b.GetRequests()))
		if err := st.Send(&sidecarpb.PublishAck{Accepted: accepted}); err != nil {
			return err
		}
	}
}

func (f *packedFake) SubscribePacked(in *sidecarpb.SubscribePackedRequest, st grpc.ServerStreamingServer[sidecarpb.PackedEvent]) error {
	f.count("SubscribePacked")
	if f.noPacked {
		return status.Error(codes.Unimplemented, "unknown method SubscribePacked")
	}
	f.header(st.Context())
	if r := in.GetResume(); r != nil {
		f.mu.Lock()
		f.resumes = append(f.resumes, r)
		f.mu.Unlock()
	}
	return f.subscribe(in, st)
}

// v1 subscriptions send their info and the same three messages as
// threeFrame, one event each.
func (f *packedFake) Subscribe(in *sidecarpb.SubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	f.count("Subscribe")
	f.header(st.Context())
	if err := st.Send(&sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: &sidecarpb.SubscriptionInfo{SubscriptionId: "v1"}}}); err != nil {
		return err
	}
	for i, r := range threeRecords() {
		m := &sidecarpb.Message{Topic: r.Topic, Payload: r.Payload, SequenceNumber: int64(r.Seq), SourceNodeId: r.Source,
			MessageId: packed.DeriveID(r.Source, 0, uint64(i+1)).String()}
		if err := st.Send(&sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Message{Message: m}}); err != nil {
			return err
		}
	}
	<-st.Context().Done()
	return nil
}

func (f *packedFake) Unsubscribe(context.Context, *sidecarpb.UnsubscribeRequest) (*sidecarpb.UnsubscribeResponse, error) {
	return &sidecarpb.UnsubscribeResponse{Success: true}, nil
}

func (f *packedFake) ResumeSubscribe(in *sidecarpb.ResumeSubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	f.count("ResumeSubscribe")
	return status.Error(codes.Unavailable, "not in this fake")
}

func startPackedFake(t *testing.T, f *packedFake) string {
	t.Helper()
	return startFake(t, f)
}

func dialFake(t *testing.T, addr string, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts = append([]Option{WithBackoff(Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2})}, opts...)
	c, err := Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// frame encodes records as one frame.
func frame(t testing.TB, rs ...packed.Record) []byte {
	t.Helper()
	var e packed.Encoder
	for i := range rs {
		if err := e.Append(&rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return e.AppendFrame(nil)
}

func infoEvent(id string) *sidecarpb.PackedEvent {
	return &sidecarpb.PackedEvent{Kind: &sidecarpb.PackedEvent_Event{Event: &sidecarpb.MessageEvent{
		Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: &sidecarpb.SubscriptionInfo{SubscriptionId: id}}}}}
}

func frameEvent(b []byte) *sidecarpb.PackedEvent {
	return &sidecarpb.PackedEvent{Kind: &sidecarpb.PackedEvent_Messages{Messages: &sidecarpb.PackedFrame{Frame: b}}}
}

// threeRecords are live messages as a daemon numbers them: two sources,
// one with an explicit id, two topics.
func threeRecords() []packed.Record {
	return []packed.Record{
		{Topic: "t/a", Payload: []byte("one"), Source: "n1", Number: 1, Seq: 1, PrevSeq: 0, TimestampMs: 1700000000000, ContentType: "text/plain", Correlation: "c-1"},
		{Topic: "t/b", Payload: []byte("two"), Source: "n1", Number: 2, Seq: 1, TimestampMs: 1700000000005},
		{Topic: "t/a", Payload: []byte("three"), Source: "n2", ID: "explicit-id-3", Seq: 2, PrevSeq: 1, TimestampMs: 1700000000005, ContentType: "text/plain"},
	}
}

// TestPackedIsUsedByDefault: against a daemon that has them, a Publisher
// sends packed frames carrying every field, and a subscription receives
// packed frames as Messages with every field (derived and explicit ids,
// sources, sequences, timestamps); neither v1 call is made.
func TestPackedIsUsedByDefault(t *testing.T) {
	f := &packedFake{instance: "run-1"}
	f.subscribe = func(in *sidecarpb.SubscribePackedRequest, st grpc.ServerStreamingServer[sidecarpb.PackedEvent]) error {
		if in.GetSubscribe() == nil || !slices.Equal(in.GetSubscribe().GetTopics(), []string{"t/#"}) {
			return status.Errorf(codes.InvalidArgument, "want a subscribe to t/#, got %v", in)
		}
		if err := st.Send(infoEvent("s1")); err != nil {
			return err
		}
		if err := st.Send(frameEvent(frame(t, threeRecords()...))); err != nil {
			return err
		}
		<-st.Context().Done()
		return nil
	}
	c := dialFake(t, startPackedFake(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sub, err := c.Subscribe(ctx, []string{"t/#"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{
		{ID: "807d4ebc-93b8-4504-a95c-000000000001", Topic: "t/a", Payload: []byte("one"), ContentType: "text/plain", CorrelationID: "c-1",
			Timestamp: time.UnixMilli(1700000000000), Source: "n1", Sequence: 1},
		{ID: "807d4ebc-93b8-4504-a95c-000000000002", Topic: "t/b", Payload: []byte("two"),
			Timestamp: time.UnixMilli(1700000000005), Source: "n1", Sequence: 1},
		{ID: "explicit-id-3", Topic: "t/a", Payload: []byte("three"), ContentType: "text/plain",
			Timestamp: time.UnixMilli(1700000000005), Source: "n2", Sequence: 2},
	}
	var got []*Message
	for range want {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	for i, m := range got {
		w := want[i]
		if m.ID != w.ID || m.Topic != w.Topic || !bytes.Equal(m.Payload, w.Payload) || m.ContentType != w.ContentType ||
			m.CorrelationID != w.CorrelationID || !m.Timestamp.Equal(w.Timestamp) || m.Source != w.Source || m.Sequence != w.Sequence || m.Kind != Live {
			t.Errorf("message %d: %+v\nwant %+v", i, *m, w)
		}
	}
	// A payload is capped at its length: appending to it copies, and
	// leaves the next message's bytes alone.
	_ = append(got[0].Payload, "XXXX"...)
	if string(got[1].Payload) != "two" {
		t.Fatalf("appending to a payload changed the next message's: %q", got[1].Payload)
	}
	if got := sub.LastSequences(); got["t/a"] != 2 || got["t/b"] != 1 {
		t.Fatalf("LastSequences %v", got)
	}

	p, err := c.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "x/1", []byte("p1"), ContentType("application/json"), CorrelationID("corr"), TTL(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "x/2", nil, Retain()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	recs := slices.Clone(f.got)
	f.mu.Unlock()
	if len(recs) != 2 {
		t.Fatalf("the daemon received %d packed records, want 2", len(recs))
	}
	if r := recs[0]; r.Topic != "x/1" || string(r.Payload) != "p1" || r.ContentType != "application/json" || r.Correlation != "corr" || r.TTLMs != 1500 || r.Retain {
		t.Errorf("record 0: %+v", r)
	}
	if r := recs[1]; r.Topic != "x/2" || len(r.Payload) != 0 || !r.Retain || r.TTLMs != 0 || r.ContentType != "" {
		t.Errorf("record 1: %+v", r)
	}
	for rpc, want := range map[string]int{"PublishPacked": 1, "SubscribePacked": 1, "PublishStream": 0, "Subscribe": 0, "ResumeSubscribe": 0} {
		if got := f.Calls(rpc); got != want {
			t.Errorf("%s called %d times, want %d", rpc, got, want)
		}
	}
}

// TestPackedFallsBackToV1: a daemon without the packed RPCs answers
// Unimplemented; the client publishes on PublishStream (the messages it
// had sent on the refused stream included: none was published, none
// fails) and subscribes with Subscribe, and does not ask again on that
// daemon run. WithPacked(false) never asks.
func TestPackedFallsBackToV1(t *testing.T) {
	for _, tc := range []struct {
		name      string
		on        bool
		wantProbe int
	}{{"unimplemented", true, 1}, {"WithPacked(false)", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			f := &packedFake{noPacked: true, instance: "old-run"}
			c := dialFake(t, startPackedFake(t, f), WithPacked(tc.on))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for round := range 2 {
				p, err := c.Publisher(ctx, PublishBatchSize(7))
				if err != nil {
					t.Fatal(err)
				}
				for i := range 50 {
					if n, err := p.Publish(ctx, "v1/t", []byte(fmt.Sprint(i))); err != nil || n != uint64(i+1) {
						t.Fatalf("publish %d: %d %v", i, n, err)
					}
				}
				if err := p.Close(ctx); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				sub, err := c.Subscribe(ctx, []string{"t/#"})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					if m, err := sub.Next(ctx); err != nil || m.Sequence != int64(threeRecords()[i].Seq) {
						t.Fatalf("message %d: %+v %v", i, m, err)
					}
				}
				if err := sub.Unsubscribe(ctx); err != nil {
					t.Fatal(err)
				}
			}
			f.mu.Lock()
			var got []string
			for _, r := range f.v1 {
				got = append(got, string(r.GetPayload()))
			}
			f.mu.Unlock()
			if len(got) != 100 {
				t.Fatalf("PublishStream received %d messages, want 100", len(got))
			}
			for i, g := range got {
				if g != fmt.Sprint(i%50) {
					t.Fatalf("PublishStream message %d is %q, want %d: order lost", i, g, i%50)
				}
			}
			// One refusal is enough: the packed RPCs come together.
			if got := f.Calls("PublishPacked") + f.Calls("SubscribePacked"); got != tc.wantProbe {
				t.Errorf("packed RPCs called %d times, want %d", got, tc.wantProbe)
			}
			for rpc, want := range map[string]int{"PublishStream": 2, "Subscribe": 2} {
				if got := f.Calls(rpc); got != want {
					t.Errorf("%s called %d times, want %d", rpc, got, want)
				}
			}
		})
	}
}

// Publish is the unary call; it refuses topics under "bad/", as a daemon
// refuses a bad publish.
func (f *packedFake) Publish(ctx context.Context, in *sidecarpb.PublishRequest) (*sidecarpb.PublishResponse, error) {
	f.count("Publish")
	if strings.HasPrefix(in.GetTopic(), "bad/") {
		return nil, status.Error(codes.InvalidArgument, "refused by the test")
	}
	f.mu.Lock()
	f.unary = append(f.unary, in)
	f.mu.Unlock()
	return &sidecarpb.PublishResponse{Success: true}, nil
}

// A daemon with neither PublishPacked nor PublishStream (the base wire's
// calls only) takes a Publisher's messages by unary Publish calls, in
// order, with nothing lost or failed by the refused streams; a refused
// message fails by its number; the client asks for each stream once on
// that daemon run.
func TestAPublisherFallsBackToUnaryCalls(t *testing.T) {
	f := &packedFake{noPacked: true, noStream: true}
	c := dialFake(t, startPackedFake(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want []string
	for round := range 2 {
		p, err := c.Publisher(ctx, PublishBatchSize(7))
		if err != nil {
			t.Fatal(err)
		}
		var bad uint64
		for i := range 30 {
			topic := "u/t"
			if i == 17 {
				topic = "bad/t"
			}
			n, err := p.Publish(ctx, topic, []byte(fmt.Sprint(round, i)))
			if err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
			if i == 17 {
				bad = n
			} else {
				want = append(want, fmt.Sprint(round, i))
			}
		}
		err = p.Close(ctx)
		var pe *PublishErrors
		if !errors.As(err, &pe) || len(pe.Failures) != 1 || pe.Failures[0].N != bad || !errors.Is(pe.Failures[0].Err, ErrInvalidArgument) {
			t.Fatalf("round %d: Close returned %v; want one invalid-argument failure, message %d", round, err, bad)
		}
	}
	f.mu.Lock()
	var got []string
	for _, r := range f.unary {
		got = append(got, string(r.GetPayload()))
	}
	f.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("Publish received %q, want %q", got, want)
	}
	for rpc, n := range map[string]int{"PublishPacked": 1, "PublishStream": 1, "Publish": 60} {
		if got := f.Calls(rpc); got != n {
			t.Errorf("%s called %d times, want %d", rpc, got, n)
		}
	}
}

// TestPackedFailuresMapToTheirMessages: failures come by stream index,
// across frames; each names the number Publish returned and the topic,
// with its code's kind and the retry flag, and the other messages settle
// as published.
func TestPackedFailuresMapToTheirMessages(t *testing.T) {
	f := &packedFake{}
	f.fail = func(index uint64, r *packed.Record) *sidecarpb.PackedFailure {
		switch {
		case strings.HasPrefix(r.Topic, "full/"):
			return &sidecarpb.PackedFailure{Code: uint32(codes.Unavailable), Retry: true, Reason: "queue full"}
		case strings.HasPrefix(r.Topic, "big/"):
			return &sidecarpb.PackedFailure{Code: uint32(codes.ResourceExhausted), Reason: "over --max-payload"}
		}
		return nil
	}
	c := dialFake(t, startPackedFake(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var hmu sync.Mutex
	var handled []PublishFailure
	p, err := c.Publisher(ctx, PublishBatchSize(64), OnPublishError(func(pf PublishFailure) {
		hmu.Lock()
		handled = append(handled, pf)
		hmu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		topic string
		kind  error
		retry bool
	}
	wants := map[uint64]want{}
	for i := range 1000 {
		topic := "ok/t"
		switch i % 97 {
		case 13:
			topic = "full/t"
		case 50:
			topic = "big/t"
		}
		n, err := p.Publish(ctx, topic, []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		switch topic {
		case "full/t":
			wants[n] = want{topic, ErrUnavailable, true}
		case "big/t":
			wants[n] = want{topic, ErrLimit, false}
		}
	}
	err = p.Flush(ctx)
	var pe *PublishErrors
	if !errors.As(err, &pe) || len(pe.Failures) != len(wants) {
		t.Fatalf("Flush: %v, want %d failures", err, len(wants))
	}
	for _, pf := range pe.Failures {
		w, ok := wants[pf.N]
		if !ok || pf.Topic != w.topic || !errors.Is(pf.Err, w.kind) || pf.Retry != w.retry {
			t.Errorf("failure %+v, want %+v", pf, w)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v, want the failures reported by Flush already", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		hmu.Lock()
		n := len(handled)
		hmu.Unlock()
		if n == len(wants) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the handler saw %d failures, want %d", n, len(wants))
		}
	}
	if got := f.Calls("PublishPacked"); got != 1 {
		t.Fatalf("PublishPacked called %d times, want 1", got)
	}
}

// TestPackedWindowIsObeyed: before the first ack the Publisher sends at
// most packed.InitialWindow records; an ack with window 0 holds it (Flush
// cannot finish) until a later ack opens the window, and it never sends
// past accepted+window.
func TestPackedWindowIsObeyed(t *testing.T) {
	const total = packed.InitialWindow + 1000
	open := make(chan struct{})
	violation := make(chan string, 1)
	f := &packedFake{}
	f.publish = func(st grpc.BidiStreamingServer[sidecarpb.PackedFrame, sidecarpb.PackedAck]) error {
		frames := make(chan int)
		errc := make(chan error, 1)
		go func() {
			var dec packed.Decoder
			for {
				fr, err := st.Recv()
				if err == nil {
					err = dec.Reset(fr.GetFrame())
				}
				if err != nil {
					errc <- err
					return
				}
				select {
				case frames <- dec.Count():
				case <-st.Context().Done():
					return
				}
			}
		}()
		var received uint64
		limit := uint64(packed.InitialWindow)
		opened := false
		ack := func(window uint64) error {
			limit = received + window
			return st.Send(&sidecarpb.PackedAck{Accepted: received, Window: window})
		}
		for {
			var err error
			select {
			case n := <-frames:
				received += uint64(n)
				if received > limit {
					select {
					case violation <- fmt.Sprintf("received %d records, the window allowed %d", received, limit):
					default:
					}
				}
				switch {
				case opened:
					// Less than what is left each time: more holds.
					err = ack(600)
				case received == packed.InitialWindow:
					// Everything taken, and no credit.
					err = ack(0)
				}
			case <-open:
				open, opened = nil, true
				err = ack(600)
			case err = <-errc:
				if err == io.EOF {
					return nil
				}
			}
			if err != nil {
				return err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := publishCounted(t, ctx, dialFake(t, startPackedFake(t, f)), total)
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	err := p.Flush(short)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with the window at 0: %v, want it held until the deadline", err)
	}
	noViolation(t, violation)
	close(open)
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush once the window opened: %v", err)
	}
	noViolation(t, violation)
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPackedGapsAndResume: sequence holes inside packed frames are gaps;
// when the stream breaks, the subscription resumes by id on
// SubscribePacked with the last sequence per topic, and the replay (v1
// events) and live frames that follow are delivered in order.
func TestPackedGapsAndResume(t *testing.T) {
	f := &packedFake{instance: "run-1"}
	cut := make(chan struct{})
	f.subscribe = func(in *sidecarpb.SubscribePackedRequest, st grpc.ServerStreamingServer[sidecarpb.PackedEvent]) error {
		rec := func(topic string, seq uint64, num uint64) packed.Record {
			return packed.Record{Topic: topic, Payload: []byte(fmt.Sprint(topic, seq)), Source: "n1", Number: num, Seq: seq}
		}
		if in.GetResume() == nil {
			if err := st.Send(infoEvent("s1")); err != nil {
				return err
			}
			// a: 1 2 3 5 (4 missed); b: 1
			if err := st.Send(frameEvent(frame(t, rec("a", 1, 1), rec("a", 2, 2), rec("b", 1, 3), rec("a", 3, 4)))); err != nil {
				return err
			}
			if err := st.Send(frameEvent(frame(t, rec("a", 5, 6)))); err != nil {
				return err
			}
			<-cut
			return status.Error(codes.Unavailable, "cut")
		}
		if err := st.Send(infoEvent("s1")); err != nil {
			return err
		}
		replay := &sidecarpb.Message{Topic: "b", Payload: []byte("b2"), SequenceNumber: 2, MessageId: "r-b2"}
		if err := st.Send(&sidecarpb.PackedEvent{Kind: &sidecarpb.PackedEvent_Event{Event: &sidecarpb.MessageEvent{
			Event: &sidecarpb.MessageEvent_ReplayMessage{ReplayMessage: replay}}}}); err != nil {
			return err
		}
		if err := st.Send(frameEvent(frame(t, rec("a", 6, 8), rec("b", 3, 9)))); err != nil {
			return err
		}
		<-st.Context().Done()
		return nil
	}
	var gmu sync.Mutex
	var gaps []Gap
	c := dialFake(t, startPackedFake(t, f), WithGapHandler(func(g Gap) { gmu.Lock(); gaps = append(gaps, g); gmu.Unlock() }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	next := func(want string, kind Kind) {
		t.Helper()
		m, err := sub.Next(ctx)
		if err != nil || string(m.Payload) != want || m.Kind != kind {
			t.Fatalf("got %+v %v, want %s (%s)", m, err, want, kind)
		}
	}
	for _, w := range []string{"a1", "a2", "b1", "a3", "a5"} {
		next(w, Live)
	}
	close(cut)
	next("b2", Replayed)
	next("a6", Live)
	next("b3", Live)
	f.mu.Lock()
	resumes := slices.Clone(f.resumes)
	f.mu.Unlock()
	if len(resumes) != 1 || resumes[0].GetSubscriptionId() != "s1" || resumes[0].GetLastSequencePerTopic()["a"] != 5 || resumes[0].GetLastSequencePerTopic()["b"] != 1 {
		t.Fatalf("resumes %v, want one by id s1 from a=5, b=1", resumes)
	}
	want := Gap{Subscription: "s1", Topic: "a", Expected: 4, Received: 5, Missed: 1, Cause: GapSequence}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		gmu.Lock()
		got := slices.Clone(gaps)
		gmu.Unlock()
		if len(got) == 1 && got[0] == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gaps %+v, want %+v", got, want)
		}
	}
	if got := sub.LastSequences(); got["a"] != 6 || got["b"] != 3 {
		t.Fatalf("LastSequences %v", got)
	}
	for rpc, want := range map[string]int{"SubscribePacked": 2, "Subscribe": 0, "ResumeSubscribe": 0} {
		if got := f.Calls(rpc); got != want {
			t.Errorf("%s called %d times, want %d", rpc, got, want)
		}
	}
}

// TestUnreadableFrameFallsBackToV1: a frame the client cannot read is not
// a reason to lose messages: the client stops using packed frames on that
// daemon run and resumes on the v1 calls.
func TestUnreadableFrameFallsBackToV1(t *testing.T) {
	f := &packedFake{instance: "run-1"}
	f.subscribe = func(in *sidecarpb.SubscribePackedRequest, st grpc.ServerStreamingServer[sidecarpb.PackedEvent]) error {
		if err := st.Send(infoEvent("s1")); err != nil {
			return err
		}
		if err := st.Send(frameEvent([]byte{9, 9, 9})); err != nil {
			return err
		}
		<-st.Context().Done()
		return nil
	}
	c := dialFake(t, startPackedFake(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, []string{"t/#"}, ResumeWindow(0))
	if err != nil {
		t.Fatal(err)
	}
	_ = sub
	// The resume by topics goes to ResumeSubscribe, which this fake
	// refuses for now; it is enough that it was asked.
	for deadline := time.Now().Add(5 * time.Second); f.Calls("ResumeSubscribe") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client did not resume on ResumeSubscribe")
		}
	}
	if got := f.Calls("SubscribePacked"); got != 1 {
		t.Fatalf("SubscribePacked called %d times, want 1", got)
	}
}

// TestPackedFrameAllocationsDoNotGrowWithItsMessages: a frame of a
// thousand messages costs a handful of allocations, not one or more per
// message.
func TestPackedFrameAllocationsDoNotGrowWithItsMessages(t *testing.T) {
	const n = 1000
	rs := make([]packed.Record, n)
	for i := range rs {
		rs[i] = packed.Record{Topic: fmt.Sprintf("t/%d", i%10), Payload: []byte("payload"), Source: "n1", Number: uint64(i + 1),
			Seq: uint64(i/10 + 1), TimestampMs: 1700000000000, ContentType: "text/plain", Correlation: "c"}
		if rs[i].Seq > 1 {
			rs[i].PrevSeq = rs[i].Seq - 1
		}
	}
	// A frame for each run, each continuing the numbering of the one
	// before, so the tracker sees neither gaps nor duplicates.
	const runs = 22
	frames := make([][]byte, runs)
	for k := range frames {
		for i := range rs {
			rs[i].Seq = uint64(k*n/10 + i/10 + 1)
			rs[i].PrevSeq = rs[i].Seq - 1
			rs[i].Number = uint64(k*n + i + 1)
		}
		frames[k] = frame(t, rs...)
	}
	c := &Client{o: defaultOptions(), log: slog.New(slog.DiscardHandler)}
	s := &Subscription{c: c, ch: make(chan *Message, n), ctx: context.Background(), seq: newTracker(maxTrackedTopics)}
	k := 0
	run := func() {
		if err := s.takeFrame(frames[k], nil); err != nil {
			t.Fatal(err)
		}
		k++
		for range n {
			<-s.ch
		}
	}
	run() // interns the topics, grows the reused buffers, fills the tracker
	// One []Message and one buffer of ids and correlation ids.
	if allocs := testing.AllocsPerRun(runs-2, run); allocs > 2 {
		t.Fatalf("%.0f allocations per frame of %d messages, want 2", allocs, n)
	}
}

// TestPackedPublisherKeepsAtMostMaxUnackedInFlight: a daemon may give
// more credit than maxUnacked; the Publisher still has at most that many
// records sent and not acknowledged.
func TestPackedPublisherKeepsAtMostMaxUnackedInFlight(t *testing.T) {
	const total = 5 * maxUnacked
	violation := make(chan string, 1)
	f := &packedFake{}
	f.publish = func(st grpc.BidiStreamingServer[sidecarpb.PackedFrame, sidecarpb.PackedAck]) error {
		var dec packed.Decoder
		var received, acked uint64
		for {
			fr, err := st.Recv()
			if err == nil {
				err = dec.Reset(fr.GetFrame())
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			first := received == 0
			received += uint64(dec.Count())
			if received-acked > maxUnacked {
				select {
				case violation <- fmt.Sprintf("%d records unacknowledged, want at most %d", received-acked, maxUnacked):
				default:
				}
			}
			ack := &sidecarpb.PackedAck{Window: 1 << 20} // far more credit than the Publisher takes
			switch {
			case dec.Count() == 0 || received-acked >= maxUnacked: // asked, or the Publisher holds back
				ack.Accepted, acked = received, received
			case first:
				ack.Accepted = 0
			default:
				continue
			}
			if err := st.Send(ack); err != nil {
				return err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := publishCounted(t, ctx, dialFake(t, startPackedFake(t, f)), total)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	noViolation(t, violation)
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// publishCounted opens a Publisher on c that may hold all of total
// messages and publishes them to w/t, payloads "0", "1", ...
func publishCounted(t *testing.T, ctx context.Context, c *Client, total int) *Publisher {
	t.Helper()
	p, err := c.Publisher(ctx, MaxPending(2*total))
	if err != nil {
		t.Fatal(err)
	}
	for i := range total {
		if _, err := p.Publish(ctx, "w/t", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// noViolation fails the test with what a fake daemon found wrong, if it
// found anything.
func noViolation(t *testing.T, violation <-chan string) {
	t.Helper()
	select {
	case v := <-violation:
		t.Fatal(v)
	default:
	}
}

// Closing a Publisher twice, or flushing or publishing after Close, says
// the publisher is closed: the second Close has nothing to report.
func TestAClosedPublisherSaysSo(t *testing.T) {
	c := dialFake(t, startPackedFake(t, &packedFake{}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "c/t", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second Close: %v, want nothing to report", err)
	}
	for what, err := range map[string]error{"Flush after Close": p.Flush(ctx), "Publish after Close": func() error { _, err := p.Publish(ctx, "c/t", nil); return err }()} {
		if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "the publisher is closed") {
			t.Errorf("%s: %v, want ErrClosed saying the publisher is closed", what, err)
		}
	}
}

// A Publisher whose client closes before its messages are acknowledged
// reports them from its Close, each as one that may or may not have been
// published when it was sent, and as not published when it was not.
func TestAPublisherClosedUnderItsClientReportsWhatItLeftUnsettled(t *testing.T) {
	f := &packedFake{}
	got := make(chan struct{}, 1)
	f.publish = func(st grpc.BidiStreamingServer[sidecarpb.PackedFrame, sidecarpb.PackedAck]) error {
		for { // reads, never acks
			if _, err := st.Recv(); err != nil {
				return err
			}
			select {
			case got <- struct{}{}:
			default:
			}
		}
	}
	c := dialFake(t, startPackedFake(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := p.Publish(ctx, "c/t", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-got:
	case <-ctx.Done():
		t.Fatal("the daemon received no frame")
	}
	c.Close()
	err = p.Close(ctx)
	var pe *PublishErrors
	if !errors.As(err, &pe) || len(pe.Failures) != 10 {
		t.Fatalf("Close after the client's: %v, want the 10 unacknowledged messages reported", err)
	}
	sent := 0
	for _, f := range pe.Failures {
		if !errors.Is(f.Err, ErrClosed) || f.Retry {
			t.Errorf("message %d: %v (retry %v), want ErrClosed and no retry", f.N, f.Err, f.Retry)
		}
		if strings.Contains(f.Err.Error(), "may or may not have been published") {
			sent++
		}
	}
	if sent == 0 {
		t.Errorf("no failure says its message may have been published: %v", pe.Failures)
	}
}

// An ack that goes back (a count below the last) is inconsistent: the
// client ends that stream and fails what it had not settled as in doubt,
// then publishes on a new one; it does not take the ack for good.
func TestAnAckThatGoesBackEndsTheStream(t *testing.T) {
	f := &packedFake{}
	var calls atomic.Int32
	f.publish = func(st grpc.BidiStreamingServer[sidecarpb.PackedFrame, sidecarpb.PackedAck]) error {
		first := calls.Add(1) == 1 // later streams ack every frame
		var dec packed.Decoder
		for got := uint64(0); ; {
			fr, err := st.Recv()
			if err != nil {
				return nil
			}
			if err := dec.Reset(fr.GetFrame()); err != nil {
				return err
			}
			got += uint64(dec.Count())
			switch {
			case !first:
				if err := st.Send(&sidecarpb.PackedAck{Accepted: got, Window: packed.InitialWindow}); err != nil {
					return err
				}
			case got >= 10:
				st.Send(&sidecarpb.PackedAck{Accepted: 5, Window: packed.InitialWindow})
				st.Send(&sidecarpb.PackedAck{Accepted: 3, Window: packed.InitialWindow})
				<-st.Context().Done()
				return nil
			}
		}
	}
	c := dialFake(t, startPackedFake(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.Publisher(ctx, PublishBatchSize(10))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := p.Publish(ctx, "back/t", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	defer fcancel()
	err = p.Flush(fctx)
	var pe *PublishErrors
	if !errors.As(err, &pe) || len(pe.Failures) != 5 || pe.Failures[0].N != 6 {
		t.Fatalf("Flush: %v; want messages 6 to 10 failed, in doubt, once the ack went back", err)
	}
}
