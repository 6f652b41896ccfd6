package netshell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/pushstream"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// fakePeer is a mesh server on loopback whose push handling a test
// scripts.
type fakePeer struct {
	meshpb.UnimplementedMeshServiceServer
	v1Only  bool            // no PushMessageBatchStream, as a v1 daemon
	packed  bool            // serves PushPacked; else it answers UNIMPLEMENTED
	header  bool            // and sends headers first, as a daemon's server does
	breakAt int             // break the batch stream after receiving this many envelopes (0: never)
	silent  bool            // never acknowledge
	refuse  map[string]bool // message id -> refused, for now (true) or for good

	mu      sync.Mutex
	got     []string        // message ids in arrival order
	batches []int           // sizes
	frames  []int           // sizes of the PushPacked frames among them
	records []packed.Record // PushPacked records, their views cleared
}

func (f *fakePeer) PushPacked(st grpc.BidiStreamingServer[meshpb.PackedPush, meshpb.BatchAck]) error {
	if !f.packed {
		if f.header {
			st.SendHeader(metadata.Pairs(instanceHeader, "peer"))
		}
		return status.Error(codes.Unimplemented, "unknown method")
	}
	st.SendHeader(metadata.Pairs(instanceHeader, "peer")) // at once, as a daemon's mesh server does
	var dec packed.Decoder
	var n uint64
	for {
		p, err := st.Recv()
		if err != nil {
			return err
		}
		if err := dec.Reset(p.GetFrame()); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		f.mu.Lock()
		f.frames = append(f.frames, dec.Count())
		f.batches = append(f.batches, dec.Count())
		for dec.Next() {
			r := *dec.Record()
			f.got = append(f.got, r.MessageID())
			r.Topic, r.Source, r.ID, r.Payload = strings.Clone(r.Topic), strings.Clone(r.Source), strings.Clone(r.ID), nil
			r.ContentType, r.Correlation = "", ""
			f.records = append(f.records, r)
		}
		f.mu.Unlock()
		n += uint64(dec.Count())
		if err := st.Send(&meshpb.BatchAck{Accepted: n}); err != nil {
			return err
		}
	}
}

func (f *fakePeer) PushMessageBatchStream(st grpc.BidiStreamingServer[meshpb.MessageBatch, meshpb.BatchAck]) error {
	if f.v1Only {
		return status.Error(codes.Unimplemented, "unknown method")
	}
	var n uint64
	for {
		b, err := st.Recv()
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.batches = append(f.batches, len(b.GetMessages()))
		for _, m := range b.GetMessages() {
			f.got = append(f.got, m.GetMessageId())
		}
		total := len(f.got)
		f.mu.Unlock()
		n += uint64(len(b.GetMessages()))
		if f.breakAt > 0 && total >= f.breakAt {
			return status.Error(codes.Internal, "scripted failure")
		}
		ack := &meshpb.BatchAck{Accepted: n}
		for _, m := range b.GetMessages() {
			if retry, ok := f.refuse[m.GetMessageId()]; ok {
				ack.Failures = append(ack.Failures, &meshpb.Ack{MessageId: m.GetMessageId(), ErrorMessage: "scripted", Retry: retry})
			}
		}
		if !f.silent {
			if err := st.Send(ack); err != nil {
				return err
			}
		}
	}
}

func (f *fakePeer) PushMessageStream(st grpc.BidiStreamingServer[meshpb.MessageEnvelope, meshpb.Ack]) error {
	for {
		e, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.got = append(f.got, e.GetMessageId())
		f.mu.Unlock()
		if err := st.Send(&meshpb.Ack{Success: true, MessageId: e.GetMessageId()}); err != nil {
			return err
		}
	}
}

// waitFor waits until the peer has received n messages.
func (f *fakePeer) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		got := len(f.got)
		f.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer received %d of %d messages", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fakePeer) start(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	meshpb.RegisterMeshServiceServer(srv, f)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// completions collects what the mesh client posts to the loop, a
// PushesCompleted as the PushCompleted of each of its calls, which is
// what the node makes of it.
type completions struct {
	mu      sync.Mutex
	evs     []state.Event
	batches int // PushesCompleted events among them
}

func (c *completions) add(evs ...state.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range evs {
		if b, ok := e.(*state.PushesCompleted); ok {
			c.batches++
			for _, call := range b.Calls {
				c.evs = append(c.evs, &state.PushCompleted{Call: call})
			}
			continue
		}
		c.evs = append(c.evs, e)
	}
}

// batched is how many PushesCompleted events came.
func (c *completions) batched() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batches
}

// wait returns the first n completions, all pushes.
func (c *completions) wait(t *testing.T, n int) []*state.PushCompleted {
	t.Helper()
	var out []*state.PushCompleted
	for _, e := range c.waitAny(t, n) {
		out = append(out, e.(*state.PushCompleted))
	}
	return out
}

func (c *completions) waitAny(t *testing.T, n int) []state.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := append([]state.Event(nil), c.evs...)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pushes completed", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newTestMeshClient(t *testing.T, mod ...func(*Options)) (*meshClient, *completions) {
	t.Helper()
	o := DefaultOptions()
	o.CallTimeout = time.Second
	o.MaxPushBatch = 64
	for _, f := range mod {
		f(&o)
	}
	c := &completions{}
	ctx, cancel := context.WithCancel(context.Background())
	m := newMeshClient(ctx, "me", &o, slog.New(slog.DiscardHandler), clock.New(), &shellCounters{}, c.add, grpc.WithTransportCredentials(insecure.NewCredentials()))
	t.Cleanup(func() { cancel(); m.closeAll(); m.wait() })
	return m, c
}

// asPush is the push of env as the loop hands it to the mesh client.
func asPush(env state.Envelope) outPush {
	return outPush{msg: &state.Message{Envelope: env}, prev: env.PrevSeq, droppedFrom: env.DroppedFrom(),
		syncOnly: env.SyncOnly, groups: env.QueueGroups()}
}

func msg(i int) state.Envelope {
	return state.Envelope{ID: fmt.Sprintf("m%04d", i), Topic: "t", Payload: []byte("x"), Source: "me", SourceSeq: uint64(i + 1)}
}

func TestPushesTravelInOrderInBatchesAndCompleteFromAcks(t *testing.T) {
	peer := &fakePeer{}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	for i := range 1000 {
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i + 1), o: asPush(msg(i))}})
	}
	done := c.wait(t, 1000)
	for i, e := range done {
		if e.Err != nil || e.Call != uint64(i+1) {
			t.Fatalf("completion %d: %+v, want call %d without error, in order", i, e, i+1)
		}
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	for i, id := range peer.got {
		if id != fmt.Sprintf("m%04d", i) {
			t.Fatalf("peer got %s at %d: out of order", id, i)
		}
	}
	for _, n := range peer.batches {
		if n > 64 {
			t.Fatalf("batch of %d, the limit is 64", n)
		}
	}
	if len(peer.batches) >= 1000 {
		t.Fatalf("1000 pushes queued at once went in %d batches: not batched", len(peer.batches))
	}
}

func TestAV1PeerGetsPushMessageStream(t *testing.T) {
	peer := &fakePeer{v1Only: true}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	m.PushRun("peer", addr, []queuedPush{{call: 1, o: asPush(msg(0))}})
	if first := c.wait(t, 1)[0]; status.Code(first.Err) != codes.Unimplemented {
		t.Fatalf("first push to a v1 peer: %v, want the Unimplemented that switches the link", first.Err)
	}
	for i := 1; i <= 10; i++ {
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i + 1), o: asPush(msg(i))}})
	}
	for _, e := range c.wait(t, 11)[1:] {
		if e.Err != nil {
			t.Fatalf("push over the v1 stream failed: %v", e.Err)
		}
	}
}

// A stream that breaks fails every push on it not yet answered (the node
// files failures by the order the pushes were issued, whatever order they
// complete in).
func TestABrokenStreamFailsEveryUnansweredPush(t *testing.T) {
	peer := &fakePeer{silent: true, breakAt: 5}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	for i := range 5 {
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i + 1), o: asPush(msg(i))}})
	}
	done := c.wait(t, 5)
	for i, e := range done {
		if e.Err == nil || e.Call != uint64(i+1) {
			t.Fatalf("completion %d: %+v, want call %d failed", i, e, i+1)
		}
	}
}

// A peer's refusal for now completes that push with ErrRetry, so the node
// pushes it again; a refusal for good completes it without error, so the
// link is not held up by what would be refused again.
func TestRefusalsForNowAreRetriedAndForGoodAreDone(t *testing.T) {
	peer := &fakePeer{refuse: map[string]bool{"m0001": true, "m0002": false}}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	for i := range 4 {
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i + 1), o: asPush(msg(i))}})
	}
	for _, e := range c.wait(t, 4) {
		switch {
		case e.Call == 2 && !errors.Is(e.Err, pushstream.ErrRetry):
			t.Fatalf("push refused for now completed with %v, want ErrRetry", e.Err)
		case e.Call != 2 && e.Err != nil:
			t.Fatalf("push %d completed with %v", e.Call, e.Err)
		}
	}
}

func TestClosingAPeerCompletesItsPushes(t *testing.T) {
	peer := &fakePeer{silent: true}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	for i := range 3 {
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i + 1), o: asPush(msg(i))}})
	}
	peer.waitFor(t, 3) // out, and never to be acknowledged
	m.ClosePeer("peer", addr)
	for _, e := range c.wait(t, 3) {
		if !errors.Is(e.Err, errPeerClosed) {
			t.Fatalf("push on a closed peer: %v, want errPeerClosed", e.Err)
		}
	}
	// A new connection for the same peer; the silent peer never
	// acknowledges, so the ack watchdog fails the push after CallTimeout.
	m.PushRun("peer", addr, []queuedPush{{call: 9, o: asPush(msg(9))}})
	if e := c.wait(t, 4)[3]; e.Call != 9 || !errors.Is(e.Err, errAckTimeout) {
		t.Fatalf("after reopening: %+v, want call 9 failed by the ack watchdog", e)
	}
}

// TestFetchProbeAndResendAgainstARealDaemon runs the client's calls
// against an in-process daemon's mesh server.
func TestFetchProbeAndResendAgainstARealDaemon(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ctx5(t)
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"f/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1)
	for i := range 3 {
		ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "f/1", Payload: fmt.Appendf(nil, "%d", i)})
	}
	id, addr := ts.s.ID(), ts.s.Addrs().Mesh
	m, c := newTestMeshClient(t)
	m.Fetch(1, id, addr)
	m.Probe(2, id, addr, false)
	m.Probe(3, "an-earlier-instance", addr, false)
	m.Resend(state.RequestResend{Call: 4, Peer: id, Addr: addr, Topic: "f/1", From: 2, To: 3})
	m.Fetch(5, "nobody", "127.0.0.1:1")  // nothing listens there
	m.Probe(6, id, addr, true)           // a claimed address, checked on its own connection
	m.Probe(7, "a-claimant", addr, true) // the claim is false: another instance answers
	byCall := map[uint64]state.Event{}
	for _, e := range c.waitAny(t, 7) {
		call, _ := completionCall(e)
		byCall[call] = e
	}
	if f := byCall[1].(*state.FetchCompleted); f.Err != nil || f.State.Instance != id || fmt.Sprint(f.State.Patterns) != "[f/#]" {
		t.Errorf("fetch: %+v", f)
	}
	if p := byCall[2].(*state.ProbeCompleted); p.Err != nil {
		t.Errorf("probe: %v", p.Err)
	}
	if p := byCall[3].(*state.ProbeCompleted); p.Err == nil || !strings.Contains(p.Err.Error(), id) {
		t.Errorf("probe of another instance at the address: %v, want an error naming the one there", p.Err)
	}
	if r := byCall[4].(*state.ResendCompleted); r.Err != nil || len(r.Reply.Msgs) != 2 || r.Reply.Instance != id {
		t.Errorf("resend: %+v", r)
	}
	if f := byCall[5].(*state.FetchCompleted); f.Err == nil {
		t.Errorf("fetch from a closed port succeeded")
	}
	if p := byCall[6].(*state.ProbeCompleted); p.Err != nil {
		t.Errorf("probe of a claimed address where the claimant answers: %v", p.Err)
	}
	if p := byCall[7].(*state.ProbeCompleted); p.Err == nil || !strings.Contains(p.Err.Error(), id) {
		t.Errorf("probe of a false claim: %v, want an error naming the instance there", p.Err)
	}
}

// Pushes follow their peer: to its new address when it moves, and over a
// new connection after the old one was closed.
func TestPushesFollowAMovedOrReopenedPeer(t *testing.T) {
	first, second := &fakePeer{packed: true}, &fakePeer{packed: true}
	addr1, addr2 := first.start(t), second.start(t)
	m, c := newTestMeshClient(t)
	m.PushRun("peer", addr1, []queuedPush{{call: 1, o: asPush(msg(0))}})
	c.wait(t, 1)
	m.PushRun("peer", addr2, []queuedPush{{call: 2, o: asPush(msg(1))}}) // the peer moved
	c.wait(t, 2)
	m.ClosePeer("peer", addr2)
	m.PushRun("peer", addr2, []queuedPush{{call: 3, o: asPush(msg(2))}})
	for _, e := range c.wait(t, 3) {
		if e.Err != nil {
			t.Fatalf("push %d: %v", e.Call, e.Err)
		}
	}
	first.mu.Lock()
	got1 := fmt.Sprint(first.got)
	first.mu.Unlock()
	second.mu.Lock()
	got2 := fmt.Sprint(second.got)
	second.mu.Unlock()
	if got1 != "[m0000]" || got2 != "[m0001 m0002]" {
		t.Fatalf("first address got %s, second %s; want [m0000] and [m0001 m0002]", got1, got2)
	}
}
