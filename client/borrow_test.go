package client

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"google.golang.org/grpc/mem"

	"github.com/nexusd/nexusd/internal/packed"
)

// lendingSub is a borrowing subscription with no stream, for takeFrame.
func lendingSub(n int) *Subscription {
	c := &Client{o: defaultOptions(), log: slog.New(slog.DiscardHandler)}
	return &Subscription{c: c, ch: make(chan *Message, n), ctx: context.Background(), seq: newTracker(maxTrackedTopics), leases: newLeases()}
}

// numberedFrames makes frames of n records each on one topic, numbered on
// from frame to frame, payloads "f<frame>-<record>".
func numberedFrames(t testing.TB, frames, n int) [][]byte {
	out := make([][]byte, frames)
	for k := range out {
		rs := make([]packed.Record, n)
		for i := range rs {
			seq := uint64(k*n + i + 1)
			rs[i] = packed.Record{Topic: "t", Payload: fmt.Appendf(nil, "f%d-%d", k, i), Source: "n1", Number: seq, Seq: seq,
				PrevSeq: seq - 1, TimestampMs: 1700000000000, Correlation: fmt.Sprintf("c%d", seq)}
		}
		out[k] = frame(t, rs...)
	}
	return out
}

// countingPool is a mem.BufferPool that counts what comes back.
type countingPool struct {
	mu   sync.Mutex
	puts int
}

// Get returns n bytes with room for 4 KiB: mem.NewBuffer pools only
// buffers of 1 KiB and more, as gRPC's own.
func (p *countingPool) Get(n int) *[]byte {
	b := make([]byte, n, max(n, 4<<10))
	return &b
}

func (p *countingPool) Put(*[]byte) {
	p.mu.Lock()
	p.puts++
	p.mu.Unlock()
}

func (p *countingPool) Puts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.puts
}

// received wraps a frame as gRPC hands one over: in a pooled buffer.
func received(f []byte, pool mem.BufferPool) mem.Buffer {
	b := pool.Get(len(f))
	copy(*b, f)
	return mem.NewBuffer(b, pool)
}

// TestLentPayloadsAliasTheReceivedBufferUntilTheLastRelease: a borrowing
// subscription's payloads are the received buffer itself (no copy), and
// the buffer goes back to its pool when the frame's last message is
// released, not before; the id and correlation id are the record's.
func TestLentPayloadsAliasTheReceivedBufferUntilTheLastRelease(t *testing.T) {
	const n = 8
	s := lendingSub(n)
	var pool countingPool
	buf := received(numberedFrames(t, 1, n)[0], &pool)
	if err := s.takeFrame(buf.ReadOnlyData(), buf); err != nil {
		t.Fatal(err)
	}
	frame := buf.ReadOnlyData()
	var got []*Message
	for range n {
		got = append(got, <-s.ch)
	}
	for i, m := range got {
		if string(m.Payload) != fmt.Sprintf("f0-%d", i) || m.CorrelationID != fmt.Sprintf("c%d", i+1) || m.Sequence != int64(i+1) || len(m.ID) != 36 {
			t.Fatalf("message %d: %+v", i, m)
		}
		if p := &m.Payload[0]; !inside(p, frame) {
			t.Fatalf("message %d: its payload was copied out of the received buffer", i)
		}
	}
	for i, m := range got {
		if pool.Puts() != 0 {
			t.Fatalf("the buffer went back to its pool with %d of %d messages still lent", n-i, n)
		}
		m.Release()
		m.Release() // a second Release does nothing
	}
	if pool.Puts() != 1 {
		t.Fatalf("buffer returned %d times once every message was released, want 1", pool.Puts())
	}
}

func inside(p *byte, b []byte) bool {
	for i := range b {
		if &b[i] == p {
			return true
		}
	}
	return false
}

// TestLentMessagesAreReusedOnlyOnceReleased: messages kept are never
// overwritten by later frames, not even one left of a frame released
// but for it; once all are released, their memory serves a later frame.
func TestLentMessagesAreReusedOnlyOnceReleased(t *testing.T) {
	const n = 4
	s := lendingSub(n)
	frames := numberedFrames(t, 4, n)
	take := func(k int) []*Message {
		t.Helper()
		if err := s.takeFrame(frames[k], nil); err != nil {
			t.Fatal(err)
		}
		var ms []*Message
		for range n {
			ms = append(ms, <-s.ch)
		}
		return ms
	}
	intact := func(k int, ms []*Message) {
		t.Helper()
		for i, m := range ms {
			if string(m.Payload) != fmt.Sprintf("f%d-%d", k, i) || m.Sequence != int64(k*n+i+1) || m.CorrelationID != fmt.Sprintf("c%d", k*n+i+1) {
				t.Fatalf("message %d of frame %d: %+v", i, k, m)
			}
		}
	}
	kept := take(0)
	second := take(1)
	for _, m := range second[:n-1] {
		m.Release()
	}
	third := take(2)
	for i := range n {
		if third[i] == kept[i] || third[i] == second[i] {
			t.Fatal("a later frame reused a message that was never released")
		}
	}
	intact(0, kept)
	if last := second[n-1]; string(last.Payload) != fmt.Sprintf("f1-%d", n-1) || last.Sequence != 2*n {
		t.Fatalf("the message of frame 1 left unreleased changed: %+v", last)
	}
	second[n-1].Release()
	fourth := take(3)
	if fourth[0] != second[0] {
		t.Fatal("the released frame's messages were not reused")
	}
	intact(3, fourth)
	intact(2, third)
}

// TestReleasingLentFramesAllocatesNothing: a reader that releases what it
// takes costs no allocation per frame (the default costs two, the
// messages and their ids: TestPackedFrameAllocationsDoNotGrowWithItsMessages).
func TestReleasingLentFramesAllocatesNothing(t *testing.T) {
	const n, runs = 1000, 22
	s := lendingSub(n)
	frames := numberedFrames(t, runs, n)
	k := 0
	run := func() {
		if err := s.takeFrame(frames[k], nil); err != nil {
			t.Fatal(err)
		}
		k++
		for range n {
			(<-s.ch).Release()
		}
	}
	run() // grows the lease, fills the tracker
	if allocs := testing.AllocsPerRun(runs-2, run); allocs > 0 {
		t.Fatalf("%.0f allocations per lent frame of %d messages, want 0", allocs, n)
	}
}

// TestADuplicateIsNotLent: a message the tracker drops as a duplicate
// holds nothing, so releasing what was delivered frees the frame.
func TestADuplicateIsNotLent(t *testing.T) {
	s := lendingSub(4)
	var pool countingPool
	rec := func(seq uint64) packed.Record {
		return packed.Record{Topic: "t", Payload: fmt.Appendf(nil, "p%d", seq), Source: "n1", Number: seq, Seq: seq, PrevSeq: seq - 1, TimestampMs: 1}
	}
	first := received(frame(t, rec(1), rec(2)), &pool)
	if err := s.takeFrame(first.ReadOnlyData(), first); err != nil {
		t.Fatal(err)
	}
	(<-s.ch).Release()
	(<-s.ch).Release()
	second := received(frame(t, rec(2), rec(3)), &pool) // 2 again: a duplicate
	if err := s.takeFrame(second.ReadOnlyData(), second); err != nil {
		t.Fatal(err)
	}
	m := <-s.ch
	if m.Sequence != 3 || len(s.ch) != 0 {
		t.Fatalf("delivered %+v and %d more, want only number 3", m, len(s.ch))
	}
	m.Release()
	if pool.Puts() != 2 {
		t.Fatalf("%d buffers back in the pool, want 2: the duplicate kept its frame lent", pool.Puts())
	}
}

// TestReleaseOfAnUnlentMessageDoesNothing: Release is safe on any message.
func TestReleaseOfAnUnlentMessageDoesNothing(t *testing.T) {
	m := &Message{Payload: []byte("x")}
	m.Release()
	var zero Message
	zero.Release()
	if string(m.Payload) != "x" {
		t.Fatal("Release changed a message that was not lent")
	}
}

// twoFaced decodes in place but not safely: the second decode of an
// event that is not a frame fails.
type twoFaced struct{}

func (*twoFaced) UnmarshalVTUnsafe([]byte) error { return nil }
func (*twoFaced) UnmarshalVT([]byte) error       { return fmt.Errorf("refused") }

// TestAHeldEventThatFailsIsFreedOnce: when the copy of an event that is
// not a frame fails, the buffer is left to the codec, which frees it on
// any error (internal/vtcodec): freed twice, gRPC's buffer panics.
func TestAHeldEventThatFailsIsFreedOnce(t *testing.T) {
	var pool countingPool
	buf := received(make([]byte, 2<<10), &pool)
	h := held[twoFaced, *twoFaced]{keep: func(*twoFaced) bool { return false }}
	if err := h.UnmarshalHeld(buf); err == nil {
		t.Fatal("a failed decode reported no error")
	}
	buf.Free() // as the codec does on error
	if pool.Puts() != 1 {
		t.Fatalf("buffer returned %d times, want 1", pool.Puts())
	}
}
