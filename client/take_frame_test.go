package client

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
)

// BenchmarkTakeFrame: a subscription reads a packed frame of 1024
// messages of 128 bytes on one topic and hands each to the application,
// which takes them from the channel. ns/msg is per message.
func BenchmarkTakeFrame(b *testing.B) {
	const n = 1024
	t := &testing.T{}
	frames := make([][]byte, 64)
	for k := range frames {
		rs := make([]packed.Record, n)
		for i := range rs {
			seq := uint64(k*n + i + 1)
			rs[i] = packed.Record{Topic: "bench/t", Payload: make([]byte, 128), Source: "7f3c2a90-5b1e-4d2f-8a6c-0e9b4d3f2a11",
				Number: seq, Seq: seq, PrevSeq: seq - 1, TimestampMs: 1700000000000}
		}
		frames[k] = frame(t, rs...)
	}
	c := &Client{o: defaultOptions(), log: slog.New(slog.DiscardHandler)}
	s := &Subscription{c: c, ch: make(chan *Message, n), ctx: context.Background(), seq: newTracker(maxTrackedTopics)}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i > 0 && i%len(frames) == 0 {
			s.seq = newTracker(maxTrackedTopics) // the numbers start again
		}
		if err := s.takeFrame(frames[i%len(frames)], nil); err != nil {
			b.Fatal(err)
		}
		for range n {
			<-s.ch
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
}

// A packed frame's duplicates are dropped and its holes reported, in
// order, before its messages are handed over.
func TestAFramesDuplicatesAndHolesAreFoundTogether(t *testing.T) {
	rec := func(seq uint64) packed.Record {
		return packed.Record{Topic: "t", Payload: []byte{byte(seq)}, Source: "n1", Number: seq, Seq: seq, PrevSeq: seq - 1, TimestampMs: 1}
	}
	first := frame(t, rec(1), rec(2), rec(3))
	second := frame(t, rec(3), rec(5), rec(6), rec(9)) // 3 again; 4, 7 and 8 missed
	d := newDispatcher()
	defer d.close()
	gaps := make(chan Gap, 8)
	c := &Client{o: defaultOptions(), log: slog.New(slog.DiscardHandler), events: d}
	c.o.gapHandler = func(g Gap) { gaps <- g }
	s := &Subscription{c: c, ch: make(chan *Message, 16), ctx: context.Background(), seq: newTracker(maxTrackedTopics)}
	for _, f := range [][]byte{first, second} {
		if err := s.takeFrame(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	for len(s.ch) > 0 {
		got = append(got, (<-s.ch).Sequence)
	}
	if !slices.Equal(got, []int64{1, 2, 3, 5, 6, 9}) {
		t.Fatalf("delivered %v, want 1 2 3 5 6 9", got)
	}
	for _, want := range []Gap{{Topic: "t", Expected: 4, Received: 5, Missed: 1}, {Topic: "t", Expected: 7, Received: 9, Missed: 2}} {
		g := <-gaps
		if g.Topic != want.Topic || g.Expected != want.Expected || g.Received != want.Received || g.Missed != want.Missed || g.Cause != GapSequence {
			t.Fatalf("gap %+v, want %+v", g, want)
		}
	}
}
