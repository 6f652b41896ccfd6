package netshell

import (
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// heldSends is a SubscribePacked stream whose transport has not written
// anything yet: it keeps what SendMsg was given, as gRPC's queue does.
type heldSends struct {
	grpc.ServerStreamingServer[sidecarpb.PackedEvent]
	held []any
}

func (h *heldSends) SendMsg(m any) error { h.held = append(h.held, m); return nil }

// The records of a frame may go out in the buffer they were encoded into
// (handOver), so a frame gRPC has not written yet must keep its records
// while the next frames are encoded: small frames, whose records are
// copied out, and large ones, which take the buffer along.
func TestFramesKeepTheirRecordsUntilWritten(t *testing.T) {
	for _, pad := range []int{0, 20 << 10} {
		t.Run(fmt.Sprintf("payloads padded by %d bytes", pad), func(t *testing.T) { framesKeepTheirRecords(t, pad) })
	}
}

func framesKeepTheirRecords(t *testing.T, pad int) {
	stream := &heldSends{}
	ps := &packedSends{stream: stream}
	fs := &frameSender{maxFrame: packedFrameBytes, sendFrame: ps.frame, sendEvent: ps.event}
	const frames, perFrame = 4, 4
	payload := func(f, i int) string { return fmt.Sprintf("frame %d message %d", f, i) + string(make([]byte, pad)) }
	for f := range frames {
		items := make([]streamItem, perFrame)
		for i := range items {
			seq := uint64(f*perFrame + i + 1)
			items[i] = outItem(state.Out{Kind: state.OutMessage, Msg: &state.Message{
				Envelope: state.Envelope{Topic: "a/b", Payload: []byte(payload(f, i)),
					TimestampMs: 1, Source: "source-node", IDNum: seq},
				Seq: seq,
			}})
		}
		if n, _, err := fs.send(items); n != perFrame || err != nil {
			t.Fatalf("frame %d: sent %d, %v", f, n, err)
		}
	}
	if len(stream.held) != frames {
		t.Fatalf("%d messages sent, want %d frames", len(stream.held), frames)
	}
	for f, m := range stream.held {
		data, err := vtcodec.Codec{}.Marshal(m) // what gRPC writes, now
		if err != nil {
			t.Fatal(err)
		}
		var ev sidecarpb.PackedEvent
		if err := proto.Unmarshal(data.Materialize(), &ev); err != nil {
			t.Fatalf("frame %d: %v", f, err)
		}
		var dec packed.Decoder
		if err := dec.Reset(ev.GetMessages().GetFrame()); err != nil {
			t.Fatalf("frame %d: %v", f, err)
		}
		if dec.Count() != perFrame {
			t.Errorf("frame %d has %d records, want %d", f, dec.Count(), perFrame)
		}
		for i := 0; dec.Next(); i++ {
			if got, want := string(dec.Record().Payload), payload(f, i); got != want {
				t.Errorf("frame %d record %d holds %.20q, want %.20q", f, i, got, want)
			}
		}
	}
}

// A frame sender fills one record for every message it encodes, so what
// one message sets must not show in the next one's record: extras, an
// explicit id, a sequence number.
func TestRecordsCarryOnlyTheirMessagesFields(t *testing.T) {
	msgs := []*state.Message{
		{Envelope: state.Envelope{Topic: "a/b", Payload: []byte("one"), TimestampMs: 5, Source: "node-a", ID: "explicit-id",
			Extras: &state.Extras{ContentType: "text/plain", Correlation: "c-1", ReplyTo: "_inbox/x"}}, Seq: 7},
		{Envelope: state.Envelope{Topic: "a/c", Payload: []byte("two"), TimestampMs: 6, Source: "node-b", IDNum: 3}},
		{Envelope: state.Envelope{Topic: "a/b", Payload: []byte("three"), TimestampMs: 7, Source: "node-a", IDNum: 4,
			Extras: &state.Extras{Correlation: "c-3"}}, Seq: 8},
		{Envelope: state.Envelope{Topic: "a/b", Payload: []byte("four"), TimestampMs: 8, Source: "node-a", ID: "another-id"}, Seq: 1},
	}
	// The sender reads a few messages ahead (touchAhead): more than that.
	for len(msgs) < 3*touchAhead {
		msgs = append(msgs, msgs[len(msgs)%4])
	}
	items := make([]streamItem, len(msgs))
	for i, m := range msgs {
		items[i] = outItem(state.Out{Kind: state.OutMessage, Msg: m})
	}
	stream := &heldSends{}
	ps := &packedSends{stream: stream}
	fs := &frameSender{maxFrame: packedFrameBytes, sendFrame: ps.frame, sendEvent: ps.event}
	if n, _, err := fs.send(items); n != len(items) || err != nil {
		t.Fatalf("sent %d of %d, %v", n, len(items), err)
	}
	data, err := vtcodec.Codec{}.Marshal(stream.held[0])
	if err != nil {
		t.Fatal(err)
	}
	var ev sidecarpb.PackedEvent
	if err := proto.Unmarshal(data.Materialize(), &ev); err != nil {
		t.Fatal(err)
	}
	var dec packed.Decoder
	if err := dec.Reset(ev.GetMessages().GetFrame()); err != nil {
		t.Fatal(err)
	}
	for i := 0; dec.Next(); i++ {
		m, r := msgs[i], dec.Record()
		want := packed.Record{Topic: m.Topic, Payload: m.Payload, TimestampMs: m.TimestampMs, Source: m.Source,
			ContentType: m.ContentType(), Correlation: m.Correlation(), ReplyTo: m.ReplyTo(),
			Seq: m.Seq, Number: m.IDNum, ID: m.ID}
		if m.Seq > 0 {
			want.PrevSeq = m.Seq - 1
		}
		got := packed.Record{Topic: r.Topic, Payload: r.Payload, TimestampMs: r.TimestampMs, Source: r.Source,
			ContentType: r.ContentType, Correlation: r.Correlation, ReplyTo: r.ReplyTo,
			Seq: r.Seq, PrevSeq: r.PrevSeq, Number: r.Number, ID: r.ID}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}
