package client

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// fakeDaemon is a sidecar server whose answers a test scripts, for the
// resume paths a real daemon cannot be made to take on demand.
type fakeDaemon struct {
	sidecarpb.UnimplementedSidecarServiceServer
	mu       sync.Mutex
	instance string                                               // the run named in headers
	ring     map[string][]int64                                   // sequence numbers this run holds, per topic
	resumes  []*sidecarpb.ResumeSubscribeRequest                  // what clients asked
	cut      chan struct{}                                        // closed: open streams end UNAVAILABLE
	known    map[string]bool                                      // subscription ids this run knows
	live     func(send func(*sidecarpb.MessageEvent) error) error // what a new stream sends after its info
}

func (f *fakeDaemon) header(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = grpc.SendHeader(ctx, metadata.Pairs(instanceHeader, f.instance))
}

func msg(topic string, seq int64) *sidecarpb.Message {
	return &sidecarpb.Message{MessageId: fmt.Sprintf("%s-%d", topic, seq), Topic: topic, SequenceNumber: seq}
}

func (f *fakeDaemon) Subscribe(in *sidecarpb.SubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	f.header(st.Context())
	f.mu.Lock()
	f.known["s1"] = true
	cut, live := f.cut, f.live
	f.mu.Unlock()
	if err := st.Send(&sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: &sidecarpb.SubscriptionInfo{SubscriptionId: "s1"}}}); err != nil {
		return err
	}
	if live != nil {
		if err := live(st.Send); err != nil {
			return err
		}
	}
	select {
	case <-cut:
		return status.Error(codes.Unavailable, "cut")
	case <-st.Context().Done():
		return nil
	}
}

func (f *fakeDaemon) ResumeSubscribe(in *sidecarpb.ResumeSubscribeRequest, st grpc.ServerStreamingServer[sidecarpb.MessageEvent]) error {
	f.header(st.Context())
	f.mu.Lock()
	f.resumes = append(f.resumes, in)
	known := f.known[in.GetSubscriptionId()]
	ring := f.ring
	f.mu.Unlock()
	if in.GetSubscriptionId() != "" && !known {
		return status.Error(codes.NotFound, "unknown subscription")
	}
	send := func(ev *sidecarpb.MessageEvent) error { return st.Send(ev) }
	if err := send(&sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: &sidecarpb.SubscriptionInfo{SubscriptionId: "s2"}}}); err != nil {
		return err
	}
	for topic, seqs := range ring {
		last, given := in.GetLastSequencePerTopic()[topic]
		for _, seq := range seqs {
			if given && seq > last {
				if err := send(&sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_ReplayMessage{ReplayMessage: msg(topic, seq)}}); err != nil {
					return err
				}
			}
		}
	}
	<-st.Context().Done()
	return nil
}

// startFake serves f, a scripted sidecar, on a loopback port until the
// test ends, and returns its address.
func startFake(t *testing.T, f sidecarpb.SidecarServiceServer) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	sidecarpb.RegisterSidecarServiceServer(srv, f)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// TestRestartedDaemonIsReplayedFromItsStart: a daemon that restarted and
// has already numbered a topic past the last number the client holds
// would, asked for what follows that number, send the tail of its new
// numbering and silently skip its head. The client knows the new run by
// its instance header: it asks for each topic from the start, reports the
// restart as a gap of unknown size, and delivers everything the new run
// holds.
func TestRestartedDaemonIsReplayedFromItsStart(t *testing.T) {
	f := &fakeDaemon{instance: "run-1", known: map[string]bool{}, cut: make(chan struct{}),
		live: func(send func(*sidecarpb.MessageEvent) error) error {
			for seq := int64(1); seq <= 3; seq++ {
				if err := send(&sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Message{Message: msg("t", seq)}}); err != nil {
					return err
				}
			}
			return nil
		}}
	addr := startFake(t, f)
	var gaps []Gap
	var gmu sync.Mutex
	c, err := Dial(context.Background(), addr, WithBackoff(Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Multiplier: 2}),
		WithGapHandler(func(g Gap) { gmu.Lock(); gaps = append(gaps, g); gmu.Unlock() }), WithClientID("app-7"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, []string{"t"}, BackpressurePolicy(DropOldest), QueueLimit(50), MaxBatch(8))
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 3; want++ {
		if m, err := sub.Next(ctx); err != nil || m.Sequence != want {
			t.Fatalf("message %d: %+v %v", want, m, err)
		}
	}
	// A new run, which has numbered t up to 10 already.
	f.mu.Lock()
	f.instance, f.known, f.ring, f.live = "run-2", map[string]bool{}, map[string][]int64{"t": {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}, nil
	close(f.cut)
	f.mu.Unlock()
	for want := int64(1); want <= 10; want++ {
		m, err := sub.Next(ctx)
		if err != nil || m.Sequence != want || m.Kind != Replayed {
			t.Fatalf("after the restart, message %d: %+v %v", want, m, err)
		}
	}
	f.mu.Lock()
	last := f.resumes[len(f.resumes)-1]
	f.mu.Unlock()
	if last.GetSubscriptionId() != "" || last.GetLastSequencePerTopic()["t"] != 0 || !slices.Equal(last.GetTopics(), []string{"t"}) ||
		last.GetGapRecoveryMode() != sidecarpb.GapRecoveryMode_GAP_RECOVERY_REPLAY_BUFFER {
		t.Fatalf("resumed with %v, want by topics from sequence 0", last)
	}
	// The daemon recreates the subscription from this request: it must
	// carry the subscription's own settings, not the daemon's defaults.
	if last.GetBackpressurePolicy() != "drop-oldest" || last.GetMaxBufferSize() != 50 || last.GetMaxBatch() != 8 || last.GetClientId() != "app-7" {
		t.Fatalf("resumed with %v, want the subscription's policy, queue limit, batch and client id", last)
	}
	// Handlers run on their own goroutine: wait for the report.
	want := Gap{Subscription: "s2", Topic: "t", Expected: 4, Missed: -1, Cause: GapRestart}
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
}

// TestResumeGapIsReportedOnceTopicByTopic: a resume that says 4 messages
// were missed produces gaps adding up to 4, never more: one for a jump in
// the replay, one for a topic whose replay ended short of its latest
// number, and the rest, on a topic the client never saw, without a topic
// once live messages begin.
func TestResumeGapIsReportedOnceTopicByTopic(t *testing.T) {
	ev := func(e any) *sidecarpb.MessageEvent {
		switch e := e.(type) {
		case *sidecarpb.SubscriptionInfo:
			return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: e}}
		case *sidecarpb.ReplayComplete:
			return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_ReplayComplete{ReplayComplete: e}}
		}
		panic("event")
	}
	f := &fakeDaemon{instance: "run-1", known: map[string]bool{}, cut: make(chan struct{}),
		live: func(send func(*sidecarpb.MessageEvent) error) error {
			for _, e := range []*sidecarpb.MessageEvent{
				{Event: &sidecarpb.MessageEvent_Message{Message: msg("a", 1)}},
				{Event: &sidecarpb.MessageEvent_Message{Message: msg("a", 2)}},
				{Event: &sidecarpb.MessageEvent_Message{Message: msg("b", 1)}},
				// As a resume would: 4 missed in all.
				ev(&sidecarpb.SubscriptionInfo{SubscriptionId: "s1", GapDetected: true, MissedMessageCount: 4}),
				{Event: &sidecarpb.MessageEvent_ReplayMessage{ReplayMessage: msg("a", 5)}}, // 3 and 4 missed
				ev(&sidecarpb.ReplayComplete{Topic: "a", ReplayedCount: 1, LatestSequence: 5}),
				{Event: &sidecarpb.MessageEvent_ReplayMessage{ReplayMessage: msg("b", 2)}},
				ev(&sidecarpb.ReplayComplete{Topic: "b", ReplayedCount: 1, LatestSequence: 3}), // 3 missed
				{Event: &sidecarpb.MessageEvent_Message{Message: msg("a", 6)}},                 // the last one: elsewhere
				{Event: &sidecarpb.MessageEvent_Message{Message: msg("b", 4)}},
			} {
				if err := send(e); err != nil {
					return err
				}
			}
			return nil
		}}
	addr := startFake(t, f)
	var gaps []Gap
	var gmu sync.Mutex
	c, err := Dial(context.Background(), addr, WithGapHandler(func(g Gap) { gmu.Lock(); gaps = append(gaps, g); gmu.Unlock() }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, []string{"#"})
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []Gap{
		{Subscription: "s1", Topic: "a", Expected: 3, Received: 5, Missed: 2, Cause: GapResume},
		{Subscription: "s1", Topic: "b", Expected: 3, Missed: 1, Cause: GapResume},
		{Subscription: "s1", Missed: 1, Cause: GapResume},
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		gmu.Lock()
		got := slices.Clone(gaps)
		gmu.Unlock()
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gaps %+v\nwant %+v", got, want)
		}
	}
}
