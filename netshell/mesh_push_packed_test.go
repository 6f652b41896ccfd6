package netshell

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/state"
)

// The sending side of PushPacked, against scripted peers (fakePeer).

// derived is the envelope of the n-th message "me" numbered: its id is
// derived, so a packed frame carries it as its number.
func derived(n int) state.Envelope {
	return state.Envelope{ID: packed.DeriveID("me", 0, uint64(n)).String(), Topic: "t", Payload: []byte("x"),
		Source: "me", SourceSeq: uint64(n)}
}

func TestPushesGoInPackedFramesWithDerivedIDsAsNumbers(t *testing.T) {
	peer := &fakePeer{packed: true}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	var want []string
	for i := 1; i <= 200; i++ {
		env := derived(i)
		if i == 100 {
			env.ID = "a-v1-uuid" // first numbered by a v1 peer: it keeps its id
		}
		want = append(want, env.ID)
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i), o: asPush(env)}})
	}
	for i, e := range c.wait(t, 200) {
		if e.Err != nil || e.Call != uint64(i+1) {
			t.Fatalf("completion %d: %+v, want call %d without error, in order", i, e, i+1)
		}
	}
	if c.batched() == 0 {
		t.Fatal("answers that refuse nothing came as one PushCompleted a push, not one PushesCompleted an answer")
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if fmt.Sprint(peer.got) != fmt.Sprint(want) {
		t.Fatalf("peer got ids %v\nwant %v", peer.got, want)
	}
	for _, n := range peer.frames {
		if n > 64 {
			t.Fatalf("frame of %d records, the batch limit is 64", n)
		}
	}
	for i, r := range peer.records {
		switch {
		case i == 99 && (r.ID != "a-v1-uuid" || r.Number != 0):
			t.Fatalf("record %d: id %q number %d, want the explicit id", i, r.ID, r.Number)
		case i != 99 && (r.ID != "" || r.Number != uint64(i+1) || r.Source != "me" || r.Seq != uint64(i+1)):
			t.Fatalf("record %d: id %q number %d source %q seq %d, want number %d and no id", i, r.ID, r.Number, r.Source, r.Seq, i+1)
		}
	}
	if p, b := m.counters.pushFrames[wirePacked].Load(), m.counters.pushFrames[wireBatch].Load(); p != uint64(len(peer.frames)) || b != 0 {
		t.Fatalf("frames counted: packed %d, batch %d; want %d and 0", p, b, len(peer.frames))
	}
}

// A peer without PushPacked (v1, or a daemon built before it) ends the
// stream with UNIMPLEMENTED before any header: the link moves to
// PushMessageBatchStream with no push failed, and stays there.
func TestAPeerWithoutPushPackedGetsTheBatchStream(t *testing.T) {
	peer := &fakePeer{}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	for i := range 10 {
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i + 1), o: asPush(msg(i))}})
	}
	for _, e := range c.wait(t, 10) {
		if e.Err != nil {
			t.Fatalf("push %d: %v", e.Call, e.Err)
		}
	}
	m.PushRun("peer", addr, []queuedPush{{call: 11, o: asPush(msg(10))}})
	if e := c.wait(t, 11)[10]; e.Err != nil {
		t.Fatalf("push after the fallback: %v", e.Err)
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if len(peer.got) != 11 || len(peer.frames) != 0 {
		t.Fatalf("peer got %d messages, %d packed frames; want 11 and none", len(peer.got), len(peer.frames))
	}
	if w := pushWire(m.peers["peer"].push.wire.Load()); w != wireBatch {
		t.Fatalf("link wire %s, want batch", pushWires[w])
	}
	if p, b := m.counters.pushFrames[wirePacked].Load(), m.counters.pushFrames[wireBatch].Load(); p != 0 || b == 0 {
		t.Fatalf("frames counted: packed %d, batch %d; want none packed", p, b)
	}
}

// A peer whose PushPacked answers UNIMPLEMENTED after its headers fails
// the pushes on that stream (the node pushes them again); the link moves
// to PushMessageBatchStream for the rest.
func TestAPeerAnsweringUnimplementedAfterItsHeadersGetsTheBatchStream(t *testing.T) {
	peer := &fakePeer{header: true}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	m.PushRun("peer", addr, []queuedPush{{call: 1, o: asPush(msg(0))}})
	if e := c.wait(t, 1)[0]; status.Code(e.Err) != codes.Unimplemented {
		t.Fatalf("first push: %v, want the UNIMPLEMENTED that moves the link", e.Err)
	}
	m.PushRun("peer", addr, []queuedPush{{call: 2, o: asPush(msg(0))}})
	if e := c.wait(t, 2)[1]; e.Err != nil {
		t.Fatalf("push again: %v", e.Err)
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if len(peer.got) != 1 || len(peer.batches) != 1 {
		t.Fatalf("peer got %v in %d batches, want the one message on the batch stream", peer.got, len(peer.batches))
	}
}

// A batch past a frame's limits goes as several frames on the stream;
// the peer's cumulative acks complete it all the same.
func TestABatchPastAFramesLimitGoesInSeveralFrames(t *testing.T) {
	peer := &fakePeer{packed: true}
	addr := peer.start(t)
	m, c := newTestMeshClient(t, func(o *Options) {
		o.MaxPushBatchBytes = 16 << 20
		// 5 MiB under the race detector, with other packages' tests on
		// the same cores, can take past the helper's second; the
		// timeout is not what this tests.
		o.CallTimeout = 20 * time.Second
	})
	for i := 1; i <= 5; i++ {
		env := derived(i)
		env.Payload = make([]byte, 1<<20) // 4 MiB frames: three a frame
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i), o: asPush(env)}})
	}
	for _, e := range c.wait(t, 5) {
		if e.Err != nil {
			t.Fatalf("push %d: %v", e.Call, e.Err)
		}
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	total := 0
	for _, n := range peer.frames {
		if n > 3 {
			t.Fatalf("frames of %v records: a frame of 4 MiB holds 3 of these", peer.frames)
		}
		total += n
	}
	if total != 5 || len(peer.got) != 5 {
		t.Fatalf("frames of %v records, %d messages; want the 5 in packed frames", peer.frames, len(peer.got))
	}
}

// A push no packed frame can hold breaks the stream (the node pushes it
// again) and moves the link to PushMessageBatchStream, whose receiver
// judges it.
func TestAnUnpackablePushMovesTheLinkToTheBatchStream(t *testing.T) {
	peer := &fakePeer{packed: true}
	addr := peer.start(t)
	m, c := newTestMeshClient(t)
	bad := derived(1)
	bad.TTLMs = -1
	m.PushRun("peer", addr, []queuedPush{{call: 1, o: asPush(bad)}})
	if e := c.wait(t, 1)[0]; !errors.Is(e.Err, errUnpackable) {
		t.Fatalf("unpackable push: %v, want errUnpackable", e.Err)
	}
	m.PushRun("peer", addr, []queuedPush{{call: 2, o: asPush(bad)}})
	if e := c.wait(t, 2)[1]; e.Err != nil {
		t.Fatalf("the same push again: %v", e.Err)
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if len(peer.frames) != 0 || len(peer.batches) != 1 {
		t.Fatalf("peer got %d packed frames and %d batches; want the push on the batch stream", len(peer.frames), len(peer.batches))
	}
}

// --mesh-packed=false: the daemon pushes on PushMessageBatchStream, even
// to a peer that serves PushPacked.
func TestMeshPackedOffPushesOnTheBatchStream(t *testing.T) {
	peer := &fakePeer{packed: true}
	addr := peer.start(t)
	m, c := newTestMeshClient(t, func(o *Options) { o.MeshPacked = false })
	for i := range 5 {
		m.PushRun("peer", addr, []queuedPush{{call: uint64(i + 1), o: asPush(msg(i))}})
	}
	for _, e := range c.wait(t, 5) {
		if e.Err != nil {
			t.Fatalf("push %d: %v", e.Call, e.Err)
		}
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if len(peer.got) != 5 || len(peer.frames) != 0 {
		t.Fatalf("peer got %d messages, %d in packed frames; want 5 and none", len(peer.got), len(peer.frames))
	}
}
