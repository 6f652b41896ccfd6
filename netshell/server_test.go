package netshell

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// testServer runs a daemon in-process on loopback with multicast off and
// no seeds: it sends nothing anywhere, and its ports are picked by the OS.
type testServer struct {
	t    *testing.T
	s    *Server
	stop context.CancelFunc
	done chan error
	app  sidecarpb.SidecarServiceClient
	mesh meshpb.MeshServiceClient
	conn *grpc.ClientConn
	logs *lockedWriter
	once sync.Once
}

func startServer(t *testing.T, mod func(*Options), dial ...grpc.DialOption) *testServer {
	t.Helper()
	o := DefaultOptions()
	o.McastAddr, o.McastPort = "", 0
	o.Bind, o.MeshPort, o.AppPort, o.HTTPAddr = "127.0.0.1", 0, 0, "127.0.0.1:0"
	o.ShutdownTimeout = 2 * time.Second
	if mod != nil {
		mod(&o)
	}
	logs := &lockedWriter{w: &strings.Builder{}}
	s, err := New(o, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ts := &testServer{t: t, s: s, stop: stop, done: make(chan error, 1), logs: logs}
	go func() { ts.done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-ts.done:
		t.Fatalf("server did not start: %v", err)
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dial...)
	conn, err := grpc.NewClient(s.Addrs().App, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mconn, err := grpc.NewClient(s.Addrs().Mesh, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts.app, ts.mesh, ts.conn = sidecarpb.NewSidecarServiceClient(conn), meshpb.NewMeshServiceClient(mconn), conn
	t.Cleanup(func() {
		ts.shutdown()
		conn.Close()
		mconn.Close()
		if t.Failed() {
			logs.mu.Lock()
			t.Logf("server log:\n%s", logs.w.String())
			logs.mu.Unlock()
		}
	})
	return ts
}

// shutdown stops the server and requires Run to return nil within 5 s.
// It is idempotent.
func (ts *testServer) shutdown() {
	ts.once.Do(func() {
		ts.stop()
		select {
		case err := <-ts.done:
			if err != nil {
				ts.t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			ts.t.Errorf("Run did not return within 5 s of shutdown")
		}
	})
}

// lockedWriter serialises the logger's writes with the test's reads.
type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recvUntil(t *testing.T, st grpc.ServerStreamingClient[sidecarpb.MessageEvent], n int) []*sidecarpb.MessageEvent {
	t.Helper()
	var out []*sidecarpb.MessageEvent
	for len(out) < n {
		ev, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		out = append(out, ev)
	}
	return out
}

func TestSidecarPublishSubscribePauseResume(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	if _, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "cfg/a", Payload: []byte("r1"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"cfg/#"}, ReceiveRetained: true, ClientId: "t"})
	if err != nil {
		t.Fatal(err)
	}
	evs := recvUntil(t, st, 2)
	info := evs[0].GetSubscriptionInfo()
	if info == nil || info.GetSubscriptionId() == "" || evs[1].GetRetainedMessage().GetPayload() == nil {
		t.Fatalf("stream opened with %v, want subscription_info then the retained value", evs)
	}
	topics, err := ts.app.GetTopics(ctx, &sidecarpb.GetTopicsRequest{IncludeCounts: true})
	if err != nil || topics.GetTopics()["cfg/#"] != 1 {
		t.Fatalf("GetTopics: %v, %v", topics, err)
	}
	if peers, err := ts.app.GetPeers(ctx, &sidecarpb.GetPeersRequest{}); err != nil || len(peers.GetPeers()) != 0 {
		t.Fatalf("GetPeers: %v, %v", peers, err)
	}
	resp, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "cfg/a", Payload: []byte("live")})
	if err != nil || resp.GetSubscriberCount() != 1 || resp.GetMessageId() == "" || !resp.GetSuccess() {
		t.Fatalf("publish: %v, %v", resp, err)
	}
	if m := recvUntil(t, st, 1)[0].GetMessage(); string(m.GetPayload()) != "live" || m.GetSequenceNumber() != 2 || m.GetMessageId() != resp.GetMessageId() {
		t.Fatalf("live message %v, want sequence 2 (the retained publish was 1)", m)
	}

	un, err := ts.app.Unsubscribe(ctx, &sidecarpb.UnsubscribeRequest{SubscriptionId: info.GetSubscriptionId(), Pause: true})
	if err != nil || un.GetPauseTtlMs() != 300_000 {
		t.Fatalf("pause: %v, %v", un, err)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("paused stream: %v, want a clean end", err)
	}
	for i := range 3 {
		ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "cfg/a", Payload: fmt.Appendf(nil, "p%d", i)})
	}
	rs, err := ts.app.ResumeSubscribe(ctx, &sidecarpb.ResumeSubscribeRequest{SubscriptionId: info.GetSubscriptionId(),
		LastSequencePerTopic: map[string]int64{"cfg/a": 2}, GapRecoveryMode: sidecarpb.GapRecoveryMode_GAP_RECOVERY_REPLAY_BUFFER})
	if err != nil {
		t.Fatal(err)
	}
	evs = recvUntil(t, rs, 5)
	if i := evs[0].GetSubscriptionInfo(); i.GetSubscriptionId() != info.GetSubscriptionId() || !i.GetReplayStarted() || i.GetGapDetected() {
		t.Fatalf("resume info %v", i)
	}
	for k, want := range []string{"p0", "p1", "p2"} {
		if m := evs[1+k].GetReplayMessage(); string(m.GetPayload()) != want || m.GetSequenceNumber() != int64(3+k) {
			t.Fatalf("replay %d: %v, want %s", k, evs[1+k], want)
		}
	}
	if d := evs[4].GetReplayComplete(); d.GetReplayedCount() != 3 || d.GetLatestSequence() != 5 {
		t.Fatalf("replay_complete %v", d)
	}
	if _, err := ts.app.Unsubscribe(ctx, &sidecarpb.UnsubscribeRequest{SubscriptionId: info.GetSubscriptionId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Recv(); err != io.EOF {
		t.Fatalf("unsubscribed stream: %v, want a clean end", err)
	}
	_, err = ts.app.Unsubscribe(ctx, &sidecarpb.UnsubscribeRequest{SubscriptionId: info.GetSubscriptionId()})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "subscribe again") {
		t.Fatalf("second unsubscribe: %v, want NOT_FOUND saying what to do", err)
	}
}

func TestPublishStreamAcksCumulativelyAndBatchesDeliver(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"b/t"}, MaxBatch: 50})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1)
	ps, err := ts.app.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batch := &sidecarpb.PublishBatch{}
	for i := range 101 {
		topic := "b/t"
		if i == 50 {
			topic = "b/+"
		}
		batch.Requests = append(batch.Requests, &sidecarpb.PublishRequest{Topic: topic, Payload: fmt.Appendf(nil, "%03d", i)})
	}
	if err := ps.Send(batch); err != nil {
		t.Fatal(err)
	}
	ps.CloseSend()
	var acked uint64
	var failures []*sidecarpb.PublishFailure
	for {
		ack, err := ps.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ack.GetAccepted() < acked {
			t.Fatalf("cumulative count went back from %d to %d", acked, ack.GetAccepted())
		}
		acked = ack.GetAccepted()
		failures = append(failures, ack.GetFailures()...)
	}
	if acked != 101 || len(failures) != 1 || failures[0].GetIndex() != 50 || failures[0].GetCode() != "INVALID_ARGUMENT" {
		t.Fatalf("acked %d, failures %v; want 101 and one INVALID_ARGUMENT at index 50", acked, failures)
	}
	var got []string
	batches := 0
	for len(got) < 100 {
		ev := recvUntil(t, st, 1)[0]
		if b := ev.GetBatch(); b != nil {
			batches++
			if len(b.GetMessages()) > 50 {
				t.Fatalf("batch of %d, max_batch is 50", len(b.GetMessages()))
			}
			for _, m := range b.GetMessages() {
				got = append(got, string(m.GetPayload()))
			}
		} else {
			got = append(got, string(ev.GetMessage().GetPayload()))
		}
	}
	for i, p := range got {
		want := i
		if i >= 50 {
			want = i + 1
		}
		if p != fmt.Sprintf("%03d", want) {
			t.Fatalf("message %d is %s, want %03d", i, p, want)
		}
	}
	if batches == 0 {
		t.Fatalf("100 messages queued at once came without a single batch")
	}
}

// TestSlowSubscriberLosesNothingSilently: a subscriber that does not read
// fills its stream's credit, then its queue; drops are reported to the
// publisher and, in backpressure warnings, to the subscriber, and what it
// receives plus what it is told it lost is everything.
func TestSlowSubscriberLosesNothingSilently(t *testing.T) {
	ts := startServer(t, nil, grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	ctx := ctx5(t)
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"slow"}, MaxBufferSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1)
	const total = 1500
	payload := make([]byte, 1024)
	dropped := 0
	for range total {
		r, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "slow", Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		dropped += int(r.GetSubscribersDropped())
	}
	if dropped == 0 {
		t.Fatalf("no publish reported a drop though the subscriber never read")
	}
	var received, warned uint64
	for received+warned < total {
		ev := recvUntil(t, st, 1)[0]
		switch {
		case ev.GetMessage() != nil:
			received++
		case ev.GetBackpressureWarning() != nil:
			w := ev.GetBackpressureWarning()
			if w.GetQueueLimit() != 10 || w.GetReason() != "slow_consumer" {
				t.Fatalf("warning %v", w)
			}
			warned = w.GetMessagesDropped() // a running total
		}
	}
	if received+warned != total || warned != uint64(dropped) {
		t.Fatalf("received %d, warned of %d dropped, publishers told of %d; want %d in all", received, warned, dropped, total)
	}
}

func TestMeshServerTakesV1AndBatchedPushesAndAnswersFetchesAndResends(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"m/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1)

	var hdr metadata.MD
	ns, err := ts.mesh.GetNodeState(ctx, &emptypb.Empty{}, grpc.Header(&hdr))
	if err != nil || ns.GetInstanceUuid() != ts.s.ID() || fmt.Sprint(ns.GetTopics()) != "[m/#]" || ns.GetTopicStateHash() == 0 {
		t.Fatalf("GetNodeState: %v, %v", ns, err)
	}
	if got := hdr.Get(instanceHeader); len(got) != 1 || got[0] != ts.s.ID() {
		t.Fatalf("instance header %v, want %s", got, ts.s.ID())
	}
	env := func(id string, seq uint64) *meshpb.MessageEnvelope {
		return &meshpb.MessageEnvelope{MessageId: id, Topic: "m/1", Payload: []byte(id), TimestampMs: time.Now().UnixMilli(),
			SourceNodeId: "other-node", SourceSequence: seq}
	}
	if ack, err := ts.mesh.PushMessage(ctx, env("e1", 1)); err != nil || !ack.GetSuccess() || ack.GetMessageId() != "e1" {
		t.Fatalf("PushMessage: %v, %v", ack, err)
	}
	v1, err := ts.mesh.PushMessageStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v1.Send(env("e2", 2))
	v1.Send(env("e3", 3))
	for _, id := range []string{"e2", "e3"} {
		if ack, err := v1.Recv(); err != nil || ack.GetMessageId() != id || !ack.GetSuccess() {
			t.Fatalf("v1 stream ack: %v, %v; want %s", ack, err, id)
		}
	}
	bs, err := ts.mesh.PushMessageBatchStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	own := env("own", 0)
	own.SourceNodeId = ts.s.ID()
	bs.Send(&meshpb.MessageBatch{Messages: []*meshpb.MessageEnvelope{env("e4", 4), env("", 0), own, env("e5", 5)}})
	ack, err := bs.Recv()
	if err != nil || ack.GetAccepted() != 4 || len(ack.GetFailures()) != 2 || ack.GetFailures()[1].GetMessageId() != "own" {
		t.Fatalf("batch ack %v, %v; want 4 received and 2 refused", ack, err)
	}
	var got []string
	for _, ev := range recvUntil(t, st, 5) {
		got = append(got, string(ev.GetMessage().GetPayload()))
	}
	if fmt.Sprint(got) != "[e1 e2 e3 e4 e5]" {
		t.Fatalf("subscriber got %v", got)
	}

	for i := range 3 {
		ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "m/r", Payload: fmt.Appendf(nil, "r%d", i)})
	}
	recvUntil(t, st, 3)
	rr, err := ts.mesh.ResendMessages(ctx, &meshpb.ResendRequest{SourceNodeId: ts.s.ID(), Topic: "m/r", FromSequence: 2, ToSequence: 3})
	if err != nil || len(rr.GetMessages()) != 2 || rr.GetFirstAvailable() != 1 || string(rr.GetMessages()[0].GetPayload()) != "r1" {
		t.Fatalf("resend: %v, %v", rr, err)
	}
	rr, err = ts.mesh.ResendMessages(ctx, &meshpb.ResendRequest{SourceNodeId: "an-earlier-run", Topic: "m/r", FromSequence: 1, ToSequence: 3})
	if err != nil || len(rr.GetMessages()) != 0 || rr.GetInstanceUuid() != ts.s.ID() {
		t.Fatalf("resend for another instance: %v, %v", rr, err)
	}
	if _, err := ts.mesh.ResendMessages(ctx, &meshpb.ResendRequest{FromSequence: 3, ToSequence: 1}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("backwards range: %v", err)
	}
}

func TestAdminEndpointsHealthAndReflection(t *testing.T) {
	ts := startServer(t, nil)
	base := "http://" + ts.s.Addrs().HTTP
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
		}
		return string(b)
	}
	get("/healthz")
	get("/readyz")
	get("/debug/pprof/")
	if page := get("/"); !strings.Contains(page, `<svg id="mesh"`) || !strings.Contains(page, `<svg id="rates"`) || strings.Contains(page, "src=") || strings.Contains(page, "<link") {
		t.Fatalf("status page must draw the mesh itself and load nothing from elsewhere")
	}
	var rep StatusReport
	if err := json.Unmarshal([]byte(get("/api/status")), &rep); err != nil || rep.Node.ID != ts.s.ID() || rep.Node.Multicast != "off" {
		t.Fatalf("status: %+v, %v", rep, err)
	}
	if m := get("/metrics"); !strings.Contains(m, "nexusd_beacons_sent_total") {
		t.Fatalf("metrics lack nexusd_beacons_sent_total")
	}
	ctx := ctx5(t)
	for _, conn := range []*grpc.ClientConn{ts.conn} {
		h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v, %v", h, err)
		}
	}
	h, err := healthpb.NewHealthClient(mustDial(t, ts.s.Addrs().Mesh)).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("mesh health: %v, %v", h, err)
	}
	for addr, want := range map[string]string{ts.s.Addrs().App: "nexusd.sidecar.SidecarService", ts.s.Addrs().Mesh: "nexusd.mesh.MeshService"} {
		if got := reflectServices(t, addr); !strings.Contains(got, want) {
			t.Errorf("reflection on %s lists %s, want %s", addr, got, want)
		}
	}
}

func TestSidecarTokenIsRequiredWhenSet(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.AppToken = "s3cret" })
	ctx := ctx5(t)
	_, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "a", Payload: []byte("x")})
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "--app-token") {
		t.Fatalf("without token: %v", err)
	}
	bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong")
	if _, err := ts.app.Publish(bad, &sidecarpb.PublishRequest{Topic: "a"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong token: %v", err)
	}
	good := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret")
	if _, err := ts.app.Publish(good, &sidecarpb.PublishRequest{Topic: "a", Payload: []byte("x")}); err != nil {
		t.Fatalf("right token: %v", err)
	}
	if _, err := healthpb.NewHealthClient(ts.conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health checks need no token: %v", err)
	}
}

func TestShutdownEndsStreamsWithUnavailableAndReturns(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1)
	began := time.Now()
	ts.shutdown()
	if _, err := st.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream at shutdown: %v, want UNAVAILABLE", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
}

func mustDial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// reflectServices lists the services a server's reflection reports.
func reflectServices(t *testing.T, addr string) string {
	t.Helper()
	st, err := reflectionpb.NewServerReflectionClient(mustDial(t, addr)).ServerReflectionInfo(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return strings.Join(names, " ")
}

func TestSubscriptionEndsWhenTheClientGoesAway(t *testing.T) {
	ts := startServer(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"gone/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1)
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		topics, err := ts.app.GetTopics(ctx5(t), &sidecarpb.GetTopicsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(topics.GetTopics()) == 0 {
			return // the subscription and its pattern are gone
		}
		if time.Now().After(deadline) {
			t.Fatalf("pattern still held after the client left: %v", topics.GetTopics())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSidecarAnswersNameTheDaemonRun: every sidecar answer, unary or
// stream, carries the daemon's instance id in the nexusd-instance header,
// so a client that reconnects can tell a restarted daemon (whose sequence
// numbers start over) from a dropped stream.
func TestSidecarAnswersNameTheDaemonRun(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	var hdr metadata.MD
	if _, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "h", Payload: []byte("x")}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get(instanceHeader); len(got) != 1 || got[0] != ts.s.ID() {
		t.Fatalf("Publish header %v, want %s", got, ts.s.ID())
	}
	st, err := ts.app.ResumeSubscribe(ctx, &sidecarpb.ResumeSubscribeRequest{SubscriptionId: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err = st.Header()
	if got := hdr.Get(instanceHeader); err != nil || len(got) != 1 || got[0] != ts.s.ID() {
		t.Fatalf("ResumeSubscribe header %v (%v), want %s even when the call is refused", got, err, ts.s.ID())
	}
	if _, err := st.Recv(); status.Code(err) != codes.NotFound {
		t.Fatalf("resume of an unknown subscription: %v, want NOT_FOUND", err)
	}
}
