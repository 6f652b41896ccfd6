package netshell

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

type sessionClient = grpc.BidiStreamingClient[sidecarpb.SessionRequest, sidecarpb.SessionEvent]

func openSession(t *testing.T, ctx context.Context, ts *testServer) sessionClient {
	t.Helper()
	se, err := ts.app.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return se
}

func sendSession(t *testing.T, se sessionClient, req *sidecarpb.SessionRequest) {
	t.Helper()
	if err := se.Send(req); err != nil {
		t.Fatal(err)
	}
}

func sessionSubscribe(ref uint64, window uint32, req *sidecarpb.SubscribeRequest) *sidecarpb.SessionRequest {
	return &sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Subscribe{Subscribe: &sidecarpb.SessionSubscribe{Ref: ref, Request: req, Window: window}}}
}

func sessionResume(ref uint64, req *sidecarpb.ResumeSubscribeRequest) *sidecarpb.SessionRequest {
	return &sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Resume{Resume: &sidecarpb.SessionResume{Ref: ref, Request: req}}}
}

func sessionUnsubscribe(id string, pause bool) *sidecarpb.SessionRequest {
	return &sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Unsubscribe{Unsubscribe: &sidecarpb.UnsubscribeRequest{SubscriptionId: id, Pause: pause}}}
}

func sessionCredit(id string, n uint32) *sidecarpb.SessionRequest {
	return &sidecarpb.SessionRequest{Op: &sidecarpb.SessionRequest_Credit{Credit: &sidecarpb.SessionCredit{SubscriptionId: id, Messages: n}}}
}

// recvSession reads the next event of the session.
func recvSession(t *testing.T, se sessionClient) *sidecarpb.SessionEvent {
	t.Helper()
	ev, err := se.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// openedOn reads a subscription's first event, which must be its
// subscription_info carrying ref, and returns its id.
func openedOn(t *testing.T, se sessionClient, ref uint64) string {
	t.Helper()
	ev := recvSession(t, se)
	info := ev.GetEvent().GetSubscriptionInfo()
	if info == nil || ev.GetRef() != ref || ev.GetSubscriptionId() != info.GetSubscriptionId() {
		t.Fatalf("event %v, want subscription_info with ref %d", ev, ref)
	}
	return info.GetSubscriptionId()
}

// frameRecords decodes a frame of live messages, copying what it keeps.
func frameRecords(t *testing.T, f *sidecarpb.PackedFrame) []packed.Record {
	t.Helper()
	var dec packed.Decoder
	if err := dec.Reset(f.GetFrame()); err != nil {
		t.Fatal(err)
	}
	var out []packed.Record
	for dec.Next() {
		r := *dec.Record()
		r.Payload = append([]byte(nil), r.Payload...)
		out = append(out, r)
	}
	return out
}

func publishTo(t *testing.T, ctx context.Context, ts *testServer, topic string, payload string) {
	t.Helper()
	if _, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: topic, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
}

func subscriptionsOf(t *testing.T, ctx context.Context, ts *testServer) map[string]state.SubscriptionStatus {
	t.Helper()
	var subs []state.SubscriptionStatus
	if err := ts.s.loop.query(ctx, func(l *loop) { subs = l.node.Subscriptions() }); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]state.SubscriptionStatus, len(subs))
	for _, s := range subs {
		out[s.ID] = s
	}
	return out
}

// waitSubs polls the node's subscriptions until cond holds or ctx ends.
func waitSubs(t *testing.T, ctx context.Context, ts *testServer, what string, cond func(map[string]state.SubscriptionStatus) bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond(subscriptionsOf(t, ctx, ts)) {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// Many subscriptions share one session; each event names its
// subscription, the first one the ref of its request, and each gets only
// its own messages, as packed frames.
func TestSessionCarriesManySubscriptionsEachTagged(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	se := openSession(t, ctx, ts)
	const n = 50
	topicOf := map[string]string{}
	for i := range n {
		sendSession(t, se, sessionSubscribe(uint64(100+i), 0, &sidecarpb.SubscribeRequest{Topics: []string{fmt.Sprintf("s/%d", i)}}))
		topicOf[openedOn(t, se, uint64(100+i))] = fmt.Sprintf("s/%d", i)
	}
	if len(topicOf) != n {
		t.Fatalf("%d distinct ids for %d subscriptions", len(topicOf), n)
	}
	for k := range 2 {
		for i := range n {
			publishTo(t, ctx, ts, fmt.Sprintf("s/%d", i), fmt.Sprintf("m%d-%d", i, k))
		}
	}
	got := map[string][]string{}
	for total := 0; total < 2*n; {
		ev := recvSession(t, se)
		if ev.GetRef() != 0 || ev.GetMessages() == nil {
			t.Fatalf("event %v, want a frame of live messages without ref", ev)
		}
		topic, ok := topicOf[ev.GetSubscriptionId()]
		if !ok {
			t.Fatalf("frame for unknown subscription %q", ev.GetSubscriptionId())
		}
		for _, r := range frameRecords(t, ev.GetMessages()) {
			if r.Topic != topic {
				t.Fatalf("subscription of %s got a message on %s", topic, r.Topic)
			}
			got[topic] = append(got[topic], string(r.Payload))
			total++
		}
	}
	for i := range n {
		topic := fmt.Sprintf("s/%d", i)
		if want := []string{fmt.Sprintf("m%d-0", i), fmt.Sprintf("m%d-1", i)}; fmt.Sprint(got[topic]) != fmt.Sprint(want) {
			t.Errorf("%s got %v, want %v", topic, got[topic], want)
		}
	}
}

// A subscription whose client grants no credit gets its window of live
// messages and no more; its own policy (drop-oldest, a queue of 5) deals
// with the rest in the node, while another subscription of the session
// receives everything. Credit then brings the warning and what the queue
// kept.
func TestSessionSlowSubscriptionDoesNotHoldUpTheOthers(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	se := openSession(t, ctx, ts)
	sendSession(t, se, sessionSubscribe(1, 2, &sidecarpb.SubscribeRequest{Topics: []string{"slow"}, MaxBufferSize: 5, BackpressurePolicy: "drop-oldest"}))
	slow := openedOn(t, se, 1)
	sendSession(t, se, sessionSubscribe(2, 0, &sidecarpb.SubscribeRequest{Topics: []string{"fast"}}))
	fast := openedOn(t, se, 2)
	// The info's credit is back: the window holds 2 live messages.
	waitSubs(t, ctx, ts, "the slow subscription's whole window", func(m map[string]state.SubscriptionStatus) bool { return m[slow].Credit == 2 })
	const total = 50
	for i := range total {
		publishTo(t, ctx, ts, "slow", fmt.Sprint(i+1))
		publishTo(t, ctx, ts, "fast", fmt.Sprint(i+1))
	}
	var slowSeqs []uint64
	for fastGot := 0; fastGot < total; {
		ev := recvSession(t, se)
		recs := frameRecords(t, ev.GetMessages())
		switch ev.GetSubscriptionId() {
		case fast:
			for _, r := range recs {
				if fastGot++; r.Seq != uint64(fastGot) {
					t.Fatalf("fast message %d has sequence %d", fastGot, r.Seq)
				}
			}
		case slow:
			for _, r := range recs {
				slowSeqs = append(slowSeqs, r.Seq)
			}
		default:
			t.Fatalf("event %v of neither subscription", ev)
		}
	}
	waitSubs(t, ctx, ts, "the slow subscription's queue to fill", func(m map[string]state.SubscriptionStatus) bool {
		s := m[slow]
		return s.Queued == 5 && s.Dropped == total-2-5
	})
	if s := subscriptionsOf(t, ctx, ts)[slow]; s.Credit != 0 {
		t.Fatalf("slow subscription holds credit %d, want 0 (its window was spent)", s.Credit)
	}
	sendSession(t, se, sessionCredit(slow, 100))
	var warned bool
	for len(slowSeqs) < 2+5 {
		ev := recvSession(t, se)
		if ev.GetSubscriptionId() != slow {
			t.Fatalf("event %v, want the slow subscription's", ev)
		}
		if w := ev.GetEvent().GetBackpressureWarning(); w != nil {
			warned = w.GetMessagesDropped() == total-2-5
			continue
		}
		for _, r := range frameRecords(t, ev.GetMessages()) {
			slowSeqs = append(slowSeqs, r.Seq)
		}
	}
	if want := "[1 2 46 47 48 49 50]"; fmt.Sprint(slowSeqs) != want || !warned {
		t.Fatalf("slow subscription got %v (warned of 43 dropped: %v), want %s and the warning", slowSeqs, warned, want)
	}
}

// Unsubscribe with pause ends the subscription on the session with its
// pause time; a resume on the session replays what it missed; unsubscribe
// ends it for good.
func TestSessionPausesResumesAndUnsubscribes(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	se := openSession(t, ctx, ts)
	sendSession(t, se, sessionSubscribe(1, 0, &sidecarpb.SubscribeRequest{Topics: []string{"p"}}))
	id := openedOn(t, se, 1)
	sendSession(t, se, sessionUnsubscribe(id, true))
	ev := recvSession(t, se)
	if e := ev.GetEnded(); e == nil || ev.GetSubscriptionId() != id || e.GetCode() != 0 || e.GetPauseTtlMs() <= 0 {
		t.Fatalf("event %v, want the end of %s with a pause time", ev, id)
	}
	for i := range 3 {
		publishTo(t, ctx, ts, "p", fmt.Sprint(i+1))
	}
	sendSession(t, se, sessionResume(2, &sidecarpb.ResumeSubscribeRequest{SubscriptionId: id,
		GapRecoveryMode: sidecarpb.GapRecoveryMode_GAP_RECOVERY_REPLAY_BUFFER}))
	if got := openedOn(t, se, 2); got != id {
		t.Fatalf("resumed as %s, want %s", got, id)
	}
	for i := range 3 {
		ev := recvSession(t, se)
		if m := ev.GetEvent().GetReplayMessage(); m == nil || string(m.GetPayload()) != fmt.Sprint(i+1) || ev.GetSubscriptionId() != id {
			t.Fatalf("event %v, want replay of message %d", ev, i+1)
		}
	}
	if ev := recvSession(t, se); ev.GetEvent().GetReplayComplete().GetReplayedCount() != 3 {
		t.Fatalf("event %v, want replay_complete of 3", ev)
	}
	publishTo(t, ctx, ts, "p", "live")
	if ev := recvSession(t, se); len(frameRecords(t, ev.GetMessages())) != 1 || ev.GetSubscriptionId() != id {
		t.Fatalf("event %v, want the live message", ev)
	}
	sendSession(t, se, sessionUnsubscribe(id, false))
	ev = recvSession(t, se)
	if e := ev.GetEnded(); e == nil || ev.GetSubscriptionId() != id || e.GetCode() != 0 || e.GetPauseTtlMs() != 0 {
		t.Fatalf("event %v, want the end of %s", ev, id)
	}
	if _, ok := subscriptionsOf(t, ctx, ts)[id]; ok {
		t.Fatalf("subscription %s outlived its unsubscribe", id)
	}
}

// Refusals carry the request's ref and the gRPC code; an id the session
// does not hold gets NOT_FOUND, and the session goes on.
func TestSessionRefusalsCarryRefAndCode(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.AppMaxStreams = 2 })
	ctx := ctx5(t)
	se := openSession(t, ctx, ts)
	ended := func(wantID string, wantRef uint64, want codes.Code) {
		t.Helper()
		ev := recvSession(t, se)
		e := ev.GetEnded()
		if e == nil || ev.GetSubscriptionId() != wantID || ev.GetRef() != wantRef || codes.Code(e.GetCode()) != want || e.GetReason() == "" {
			t.Fatalf("event %v, want a refusal %s of %q with ref %d", ev, want, wantID, wantRef)
		}
	}
	sendSession(t, se, sessionSubscribe(7, 0, &sidecarpb.SubscribeRequest{Topics: []string{"a/#/b"}}))
	ended("", 7, codes.InvalidArgument)
	sendSession(t, se, sessionSubscribe(8, sessionMaxWindow+1, &sidecarpb.SubscribeRequest{Topics: []string{"a"}}))
	ended("", 8, codes.InvalidArgument)
	sendSession(t, se, sessionSubscribe(9, 0, &sidecarpb.SubscribeRequest{Topics: []string{"a"}, BackpressurePolicy: "sometimes"}))
	ended("", 9, codes.InvalidArgument)
	sendSession(t, se, sessionResume(10, &sidecarpb.ResumeSubscribeRequest{SubscriptionId: "no-such-id"}))
	ended("no-such-id", 10, codes.NotFound)
	sendSession(t, se, sessionCredit("no-such-id", 5))
	ended("no-such-id", 0, codes.NotFound)
	sendSession(t, se, sessionUnsubscribe("no-such-id", false))
	ended("no-such-id", 0, codes.NotFound)
	sendSession(t, se, sessionUnsubscribe("", false))
	ended("", 0, codes.InvalidArgument)
	sendSession(t, se, &sidecarpb.SessionRequest{})
	ended("", 0, codes.InvalidArgument)
	// The cap: AppMaxStreams subscriptions on one session.
	sendSession(t, se, sessionSubscribe(11, 0, &sidecarpb.SubscribeRequest{Topics: []string{"a"}}))
	openedOn(t, se, 11)
	sendSession(t, se, sessionSubscribe(12, 0, &sidecarpb.SubscribeRequest{Topics: []string{"b"}}))
	openedOn(t, se, 12)
	sendSession(t, se, sessionSubscribe(13, 0, &sidecarpb.SubscribeRequest{Topics: []string{"c"}}))
	ended("", 13, codes.ResourceExhausted)
	if n := len(subscriptionsOf(t, ctx, ts)); n != 2 {
		t.Fatalf("the node holds %d subscriptions, want the 2 opened", n)
	}
}

// When the session ends, each of its subscriptions ends as its own
// stream's end would: one with a resume window is paused for it (and
// resumes elsewhere), one without is removed.
func TestSessionEndPausesOrRemovesItsSubscriptions(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	sctx, cancel := context.WithCancel(ctx)
	se := openSession(t, sctx, ts)
	sendSession(t, se, sessionSubscribe(1, 0, &sidecarpb.SubscribeRequest{Topics: []string{"kept"}, ResumeWindowMs: 60_000}))
	kept := openedOn(t, se, 1)
	sendSession(t, se, sessionSubscribe(2, 0, &sidecarpb.SubscribeRequest{Topics: []string{"gone"}}))
	gone := openedOn(t, se, 2)
	cancel()
	waitSubs(t, ctx, ts, "the session's subscriptions to end", func(m map[string]state.SubscriptionStatus) bool {
		_, stays := m[gone]
		return m[kept].Paused && !stays
	})
	publishTo(t, ctx, ts, "kept", "while away")
	st, err := ts.app.ResumeSubscribe(ctx, &sidecarpb.ResumeSubscribeRequest{SubscriptionId: kept,
		GapRecoveryMode: sidecarpb.GapRecoveryMode_GAP_RECOVERY_REPLAY_BUFFER})
	if err != nil {
		t.Fatal(err)
	}
	evs := recvUntil(t, st, 2)
	if m := evs[1].GetReplayMessage(); m == nil || string(m.GetPayload()) != "while away" {
		t.Fatalf("events %v, want the info then the replay", evs)
	}
}

// A session's subscriptions cost no goroutine each: the session has one
// sender and one receiver, whatever it holds.
func TestSessionSubscriptionsTakeNoGoroutineEach(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	se := openSession(t, ctx, ts)
	sendSession(t, se, sessionSubscribe(1, 0, &sidecarpb.SubscribeRequest{Topics: []string{"g/0"}}))
	openedOn(t, se, 1)
	before := runtime.NumGoroutine()
	const n = 500
	for i := range n {
		sendSession(t, se, sessionSubscribe(uint64(i+2), 0, &sidecarpb.SubscribeRequest{Topics: []string{fmt.Sprintf("g/%d", i+1)}}))
	}
	for i := range n {
		openedOn(t, se, uint64(i+2))
	}
	if grew := runtime.NumGoroutine() - before; grew >= n/10 {
		t.Fatalf("%d goroutines more for %d subscriptions on one session", grew, n)
	}
}

// A subscription on a session holds little live memory in the daemon: the
// node's subscription and the session's few hundred bytes (the client's
// side is in this process too, and holds nothing per subscription here).
// The count is large because a connection can hold a pooled read buffer of
// a megabyte or more at either reading; over 8000 subscriptions three such
// buffers add under 400 bytes each, over 2000 they failed the bound once.
func TestSessionSubscriptionHeapIsSmall(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	se := openSession(t, ctx, ts)
	sendSession(t, se, sessionSubscribe(1, 0, &sidecarpb.SubscribeRequest{Topics: []string{"h"}}))
	openedOn(t, se, 1)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	const n = 8000
	before := heap()
	for i := range n {
		sendSession(t, se, sessionSubscribe(uint64(i+2), 0, &sidecarpb.SubscribeRequest{Topics: []string{"h"}}))
	}
	for i := range n {
		openedOn(t, se, uint64(i+2))
	}
	per := (float64(heap()) - float64(before)) / n
	t.Logf("%.0f bytes of live heap per subscription", per)
	if per > sessionSubHeapBound {
		t.Fatalf("%.0f bytes of live heap per subscription on a session, want at most %d", per, sessionSubHeapBound)
	}
}

const sessionSubHeapBound = 2048
