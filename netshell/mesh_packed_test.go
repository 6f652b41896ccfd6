package netshell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// Two daemons on loopback: what one publishes reaches the other's
// subscriber over PushPacked, with the ids the publisher's daemon gave.
func TestTwoDaemonsDeliverOverPushPacked(t *testing.T) {
	a, b := startPeers(t, nil)
	ctx := ctx5(t)
	sub, err := a.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"p/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, sub, 1)
	waitSynced(t, ctx, b, a)

	var sent []string
	for i := range 300 {
		r, err := b.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "p/" + strconv.Itoa(i%3), Payload: fmt.Appendf(nil, "%d", i)})
		if err != nil || !r.GetSuccess() {
			t.Fatalf("publish %d: %v, %v", i, r, err)
		}
		sent = append(sent, r.GetMessageId())
	}
	var split packed.IDSplitter
	for i, ev := range recvUntil(t, sub, 300) {
		m := ev.GetMessage()
		if m.GetMessageId() != sent[i] || string(m.GetPayload()) != strconv.Itoa(i) || m.GetSourceNodeId() != b.s.ID() {
			t.Fatalf("message %d: id %q payload %q source %q; want %q %d %s", i, m.GetMessageId(), m.GetPayload(), m.GetSourceNodeId(), sent[i], i, b.s.ID())
		}
		if _, ok := split.Split(b.s.ID(), sent[i]); !ok {
			t.Fatalf("id %q is not derived from the publisher's instance", sent[i])
		}
	}
	metrics := httpGet(t, b, "/metrics")
	if n := frameMetric(t, metrics, "packed"); n == 0 || n > 300 {
		t.Fatalf("b sent %d packed frames for 300 messages", n)
	}
	if n := frameMetric(t, metrics, "batch"); n != 0 {
		t.Fatalf("b sent %d batches on PushMessageBatchStream, want none", n)
	}
}

// waitSynced waits until from has synced what to's subscriptions are now.
func waitSynced(t *testing.T, ctx context.Context, from, to *testServer) {
	t.Helper()
	var hash uint64
	if err := to.s.loop.query(ctx, func(l *loop) { hash = l.node.Hash() }); err != nil {
		t.Fatal(err)
	}
	until(t, "a peer to sync the other's subscriptions", func() (ok bool) {
		if err := from.s.loop.query(ctx, func(l *loop) { h, synced := l.node.SyncedHash(to.s.ID()); ok = synced && h == hash }); err != nil {
			t.Fatal(err)
		}
		return ok
	})
}

func frameMetric(t *testing.T, metrics, wire string) int {
	t.Helper()
	m := regexp.MustCompile(`nexusd_mesh_push_frames_total\{wire="` + wire + `"\} (\d+)`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no nexusd_mesh_push_frames_total{wire=%q} in the metrics", wire)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// frame encodes records from source "other-node" (numbers 1, 2, ... in
// order unless a record has an id), on topic "m/1" unless set.
func frame(t *testing.T, recs ...packed.Record) []byte {
	t.Helper()
	return frameWithin(t, packed.Limits{}, recs...)
}

// frameWithin is frame, encoded within limits l.
func frameWithin(t *testing.T, l packed.Limits, recs ...packed.Record) []byte {
	t.Helper()
	e := packed.Encoder{Limits: l}
	for i := range recs {
		r := &recs[i]
		if r.Topic == "" {
			r.Topic = "m/1"
		}
		if r.Source == "" {
			r.Source = "other-node"
		}
		if r.ID == "" && r.Number == 0 {
			r.Number = uint64(i + 1)
		}
		if r.TimestampMs == 0 {
			r.TimestampMs = time.Now().UnixMilli()
		}
		if err := e.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	return e.AppendFrame(nil)
}

// pushPacked opens PushPacked on ts's mesh port.
func pushPacked(t *testing.T, ts *testServer) grpc.BidiStreamingClient[meshpb.PackedPush, meshpb.BatchAck] {
	t.Helper()
	st, err := ts.mesh.PushPacked(ctx5(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// pushingToASubscriber starts a daemon with a subscriber on m/# (its info
// event read) and a PushPacked stream to it.
func pushingToASubscriber(t *testing.T) (*testServer, grpc.ServerStreamingClient[sidecarpb.MessageEvent], grpc.BidiStreamingClient[meshpb.PackedPush, meshpb.BatchAck]) {
	t.Helper()
	ts := startServer(t, nil)
	sub, err := ts.app.Subscribe(ctx5(t), &sidecarpb.SubscribeRequest{Topics: []string{"m/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, sub, 1)
	return ts, sub, pushPacked(t, ts)
}

// receivedRemote is how many messages ts's node has taken from peers.
func receivedRemote(t *testing.T, ts *testServer) (n uint64) {
	t.Helper()
	if err := ts.s.loop.query(ctx5(t), func(l *loop) { n = l.node.Status().Counters.ReceivedRemote }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A frame that is not valid ends the stream with INVALID_ARGUMENT naming
// the record and the fault (one past a limit: RESOURCE_EXHAUSTED), and
// none of its records reaches the node, even those before the fault.
func TestAMalformedPackedFrameEndsTheStreamAndChangesNothing(t *testing.T) {
	ts := startServer(t, nil)
	good := frame(t, packed.Record{Seq: 1, Payload: []byte("a")}, packed.Record{Seq: 2, Payload: []byte("b")})
	// Two records from "n1" on "m/1"; the second's flags are 0x1000, a
	// reserved bit.
	unknownFlag := []byte{1, 2, 0, 1, 2, 'n', '1', 0, 1, 1, 3, 'm', '/', '1', 1, 3, 0, 0, 'a', 4, 0x80, 0x20, 0, 'b'}
	for _, c := range []struct {
		name  string
		frame []byte
		code  codes.Code
		say   string
	}{
		{"truncated", good[:len(good)-1], codes.InvalidArgument, "record 1"},
		{"reserved flag", unknownFlag, codes.InvalidArgument, "record 1"},
		{"no source table", []byte{1, 1, 0, 0, 1, 1, 't', 0, 3, 0, 0, 'x'}, codes.InvalidArgument, "source"},
		{"topic past the limit", frameWithin(t, packed.Limits{MaxTopicBytes: 512}, packed.Record{Topic: strings.Repeat("t", 300)}),
			codes.ResourceExhausted, "topic"},
		{"not a frame", []byte{7}, codes.InvalidArgument, "header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := receivedRemote(t, ts)
			st := pushPacked(t, ts)
			if err := st.Send(&meshpb.PackedPush{Frame: c.frame}); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			_, err := st.Recv()
			if s, _ := status.FromError(err); s.Code() != c.code || !strings.Contains(s.Message(), c.say) {
				t.Fatalf("answer %v, want %s naming %q", err, c.code, c.say)
			}
			if after := receivedRemote(t, ts); after != before {
				t.Fatalf("the node took %d messages from a refused frame", after-before)
			}
		})
	}
	// The same stream goes on after good frames; the bad one ends it.
	st := pushPacked(t, ts)
	st.Send(&meshpb.PackedPush{Frame: good})
	if a, err := st.Recv(); err != nil || a.GetAccepted() != 2 || len(a.GetFailures()) != 0 {
		t.Fatalf("good frame: %v, %v; want 2 accepted", a, err)
	}
	st.Send(&meshpb.PackedPush{Frame: good[:len(good)-1]})
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad frame after a good one: %v", err)
	}
	// A bad frame sent before the good one's ack ends the stream only
	// after that ack: the sender learns what was taken.
	st = pushPacked(t, ts)
	st.Send(&meshpb.PackedPush{Frame: good})
	st.Send(&meshpb.PackedPush{Frame: []byte{7}})
	if a, err := st.Recv(); err != nil || a.GetAccepted() != 2 {
		t.Fatalf("good frame, then a bad one at once: %v, %v; want 2 accepted before the end", a, err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("then: %v, want the bad frame's INVALID_ARGUMENT", err)
	}
}

// The node's refusals come back in the BatchAck by message id, derived or
// explicit, as on PushMessageBatchStream; the rest reach the subscriber.
func TestARecordTheNodeRefusesIsNamedInTheBatchAck(t *testing.T) {
	ts, sub, st := pushingToASubscriber(t)
	f := frame(t,
		packed.Record{Seq: 1, Payload: []byte("e1"), ContentType: "text/plain", Correlation: "c1", TTLMs: 60000},
		packed.Record{Seq: 2, Payload: []byte("own"), Source: ts.s.ID(), Number: 7}, // our own message, back from a peer
		packed.Record{Topic: "m/+", Payload: []byte("wild"), ID: "explicit-1"},      // a wildcard is no topic to publish to
		packed.Record{Seq: 3, PrevSeq: 1, Payload: []byte("e3"), ID: "explicit-2"},
	)
	if err := st.Send(&meshpb.PackedPush{Frame: f, SentAtMs: time.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	a, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	for _, f := range a.GetFailures() {
		if f.GetSuccess() || f.GetErrorMessage() == "" {
			t.Errorf("failure %v: want success false and a reason", f)
		}
		refused = append(refused, f.GetMessageId())
	}
	own := packed.DeriveID(ts.s.ID(), 0, 7).String()
	if a.GetAccepted() != 4 || fmt.Sprint(refused) != fmt.Sprint([]string{own, "explicit-1"}) {
		t.Fatalf("ack: %d accepted, refused %v; want 4 and [%s explicit-1]", a.GetAccepted(), refused, own)
	}
	var got []string
	for _, ev := range recvUntil(t, sub, 2) {
		m := ev.GetMessage()
		got = append(got, fmt.Sprintf("%s:%s:%s:%s", m.GetPayload(), m.GetMessageId(), m.GetContentType(), m.GetCorrelationId()))
	}
	want := fmt.Sprint([]string{"e1:" + packed.DeriveID("other-node", 0, 1).String() + ":text/plain:c1", "e3:explicit-2::"})
	if fmt.Sprint(got) != want {
		t.Fatalf("subscriber got %v\nwant %v", got, want)
	}
	st.CloseSend()
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend: %v, want the stream to end cleanly", err)
	}
}

// startPeers starts two daemons on loopback that find each other as seeds
// (beacons every 20 ms); mod, when set, adjusts b's options.
func startPeers(t *testing.T, mod func(*Options)) (a, b *testServer) {
	t.Helper()
	bPort := freeUDPPort(t)
	a = startServer(t, func(o *Options) {
		o.Peers = []string{"127.0.0.1:" + strconv.Itoa(bPort)}
		o.BeaconInterval = 20 * time.Millisecond
	})
	_, aPort, _ := net.SplitHostPort(a.s.Addrs().Discovery)
	b = startServer(t, func(o *Options) {
		o.McastPort = bPort
		o.Peers = []string{"127.0.0.1:" + aPort}
		o.BeaconInterval = 20 * time.Millisecond
		if mod != nil {
			mod(o)
		}
	})
	return a, b
}

// A push stream reuses the envelope arrays of answered frames: many more
// frames than it keeps unanswered each reach the subscriber whole, and
// each ack names the record refused in its own frame, not one of a frame
// whose array was reused.
func TestAPushStreamReusingItsArraysKeepsEveryFrameApart(t *testing.T) {
	ts, sub, st := pushingToASubscriber(t)
	const frames = 3 * pushStreamWindow
	var accepted uint64
	for i := range frames {
		seq := uint64(2*i + 1)
		f := frame(t,
			packed.Record{Seq: seq, PrevSeq: seq - 1, Number: seq, Payload: []byte(fmt.Sprint("a", i))},
			packed.Record{Payload: []byte("own"), Source: ts.s.ID(), Number: uint64(100 + i)}, // refused
			packed.Record{Seq: seq + 1, PrevSeq: seq, Number: seq + 1, Payload: []byte(fmt.Sprint("b", i))},
		)
		if err := st.Send(&meshpb.PackedPush{Frame: f}); err != nil {
			t.Fatal(err)
		}
		a, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		own := packed.DeriveID(ts.s.ID(), 0, uint64(100+i)).String()
		if accepted += 3; a.GetAccepted() != accepted || len(a.GetFailures()) != 1 || a.GetFailures()[0].GetMessageId() != own {
			t.Fatalf("frame %d: ack %v; want %d accepted and %s refused", i, a, accepted, own)
		}
		for j, ev := range recvUntil(t, sub, 2) {
			if want := fmt.Sprint(string("ab"[j]), i); string(ev.GetMessage().GetPayload()) != want {
				t.Fatalf("frame %d: subscriber got %q, want %q", i, ev.GetMessage().GetPayload(), want)
			}
		}
	}
}

// A pushed frame's payloads are read from gRPC's buffer, which is kept
// until the node has answered the frame: the frames here are large enough
// to come from the buffer pool, which the tests poison (TestMain), so a
// buffer given back before the node copied the payloads it keeps would
// reach the subscriber as 0xdd. A retained record, copied alone, is read
// back after the frames that follow it.
func TestAPushedFramesPayloadsAreReadBeforeItsBufferIsGivenBack(t *testing.T) {
	ts, sub, st := pushingToASubscriber(t)
	const frames, per = 6, 48
	payload := func(seq uint64) []byte { return fmt.Appendf(nil, "%08d%s", seq, strings.Repeat("x", 120)) }
	seq := uint64(0)
	for i := range frames {
		var recs []packed.Record
		for range per {
			seq++
			recs = append(recs, packed.Record{Seq: seq, PrevSeq: seq - 1, Number: seq, Payload: payload(seq), Retain: seq == 5})
		}
		if err := st.Send(&meshpb.PackedPush{Frame: frame(t, recs...)}); err != nil {
			t.Fatal(err)
		}
		if a, err := st.Recv(); err != nil || a.GetAccepted() != uint64((i+1)*per) {
			t.Fatalf("frame %d: ack %v, %v", i, a, err)
		}
	}
	for i, ev := range recvUntil(t, sub, frames*per) {
		if got, want := ev.GetMessage().GetPayload(), payload(uint64(i+1)); !bytes.Equal(got, want) {
			t.Fatalf("message %d: payload %q, want %q", i+1, got, want)
		}
	}
	var kept []state.Envelope
	if err := ts.s.loop.query(ctx5(t), func(l *loop) { kept = l.node.RetainedValues() }); err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || !bytes.Equal(kept[0].Payload, payload(5)) {
		t.Fatalf("retained values %v; want one, payload %q", kept, payload(5))
	}
}

// A frame read into a spare array allocates only for its records' bytes:
// small records share chunks, and a retained record, which may be kept
// for good, has an allocation of its own.
func TestAFrameReadIntoASpareArrayAllocatesOnlyItsRecords(t *testing.T) {
	var small []packed.Record
	for i := range 64 {
		small = append(small, packed.Record{Seq: uint64(i + 1), Payload: []byte("p")})
	}
	retained := frame(t, packed.Record{Seq: 1, Payload: []byte("a"), Retain: true}, packed.Record{Seq: 2, Payload: []byte("b"), Retain: true})
	for _, c := range []struct {
		name string
		f    []byte
		most float64
	}{
		{"64 small records", frame(t, small...), 4}, // 64 ids of 36 bytes and payloads: two 2 KiB chunks, and a part
		{"2 retained records", retained, 2},
	} {
		var fr pushFrameReader
		spare, err := fr.envelopes(c.f, nil)
		if err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if spare, err = fr.envelopes(c.f, spare[:0]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > c.most {
			t.Fatalf("%s: %v allocations a frame, want at most %v", c.name, allocs, c.most)
		}
	}
	var fr pushFrameReader
	envs, err := fr.envelopes(retained, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		// One allocation of its own: the id, then the payload.
		if unsafe.StringData(e.ID) == nil || unsafe.Add(unsafe.Pointer(unsafe.StringData(e.ID)), len(e.ID)) != unsafe.Pointer(&e.Payload[0]) {
			t.Fatalf("retained message %s: its payload is not in the allocation of its id", e.ID)
		}
	}
}

// A pushed record of another epoch than 0 keeps its epoch: its id is the
// one derived from (source, 3, number), carried as that id, not as a
// number of epoch 0.
func TestAPushedIDOfAnotherEpochKeepsItsEpoch(t *testing.T) {
	var e packed.Encoder
	if err := e.Append(&packed.Record{Topic: "t", Source: "n2", Epoch: 3, Number: 7, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	var fr pushFrameReader
	envs, err := fr.envelopes(e.AppendFrame(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := packed.DeriveID("n2", 3, 7).String()
	if envs[0].MessageID() != want || envs[0].IDNum != 0 {
		t.Fatalf("id %q, number %d; want %s by itself", envs[0].MessageID(), envs[0].IDNum, want)
	}
}

// Pushes larger together than one packed frame go in two or more, none
// left out where one frame ended and the next began. (A push batch is
// 256 KiB by default, far less than a frame: b's is raised past one.)
func TestPushesOverAFramesSizeAllArrive(t *testing.T) {
	a, b := startPeers(t, func(o *Options) { o.MaxPushBatchBytes = 16 << 20 })
	ctx := ctx5(t)
	sub, err := a.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"big/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, sub, 1)
	waitSynced(t, ctx, b, a)
	pub, err := b.app.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	batch := &sidecarpb.PublishBatch{}
	for i := range n {
		payload := bytes.Repeat([]byte{byte('a' + i)}, 1<<20) // --max-payload
		batch.Requests = append(batch.Requests, &sidecarpb.PublishRequest{Topic: "big/t", Payload: payload})
	}
	if err := pub.Send(batch); err != nil {
		t.Fatal(err)
	}
	for i, ev := range recvUntil(t, sub, n) {
		if p := ev.GetMessage().GetPayload(); len(p) != 1<<20 || p[0] != byte('a'+i) {
			t.Fatalf("message %d: %d bytes of %q, want the %dth publish", i, len(p), p[:min(len(p), 1)], i+1)
		}
	}
}
