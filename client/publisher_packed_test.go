package client

import (
	"bytes"
	"testing"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// sentFrames is a PublishPacked stream that keeps what is sent on it.
type sentFrames struct {
	grpc.BidiStreamingClient[sidecarpb.PackedFrame, sidecarpb.PackedAck]
	sent []any
}

func (s *sentFrames) SendMsg(m any) error {
	s.sent = append(s.sent, m)
	return nil
}

// A packed frame's records go to gRPC in the buffer the encoder wrote them
// into, after a buffer of the frame's header, not copied into one frame
// first; a frame of a few records copies them into a buffer of their size
// and keeps its buffer for the next frame.
func TestPackedFrameRecordsGoOutInTheirOwnBuffer(t *testing.T) {
	for _, c := range []struct {
		payload  int
		handsOff bool
	}{{100 << 10, true}, {100, false}} {
		var sd sender
		sd.recs = vtcodec.Buffer(packedFrameBytes)
		given := sd.recs
		sd.enc.UseRecords(*sd.recs)
		if err := sd.enc.Append(&packed.Record{Topic: "a/b", Payload: bytes.Repeat([]byte{7}, c.payload)}); err != nil {
			t.Fatal(err)
		}
		hdr, recs := sd.enc.Frame()
		want := append(append([]byte(nil), hdr...), recs...)
		filled := &recs[0]
		st := &sentFrames{}
		if err := sendEncoded(&pubStream{pk: st}, &sd); err != nil {
			t.Fatal(err)
		}
		if len(st.sent) != 1 {
			t.Fatalf("payload %d: %d messages sent, want 1", c.payload, len(st.sent))
		}
		out, err := vtcodec.Codec{}.Marshal(st.sent[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 2 {
			t.Fatalf("payload %d: the frame went out in %d buffers, want the header's and the records'", c.payload, len(out))
		}
		if got := &out[1].ReadOnlyData()[0] == filled; got != c.handsOff {
			t.Errorf("payload %d: records sent in the buffer they were encoded into: %v, want %v", c.payload, got, c.handsOff)
		}
		if kept := sd.recs == given; kept == c.handsOff {
			t.Errorf("payload %d: the publisher kept its records buffer: %v, want %v", c.payload, kept, !c.handsOff)
		}
		var f sidecarpb.PackedFrame
		if err := f.UnmarshalVT(out.Materialize()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.GetFrame(), want) {
			t.Errorf("payload %d: sent a frame of %d bytes, want the %d encoded", c.payload, len(f.GetFrame()), len(want))
		}
		if len(sd.enc.Records()) != 0 || sd.enc.Count() != 1 {
			t.Errorf("payload %d: the encoder still writes into the buffer it sent", c.payload)
		}
		out.Free()
	}
}
