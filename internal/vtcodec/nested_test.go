package vtcodec

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// bytesField is field f holding v, encoded as protobuf-go encodes it.
func bytesField(f protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, f, protowire.BytesType), v)
}

func TestEncodeNestedWritesWhatAMarshalledMessageHolds(t *testing.T) {
	head := protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1234567)
	// Lengths whose varints take one, two and three bytes.
	for _, n := range []int{1, 127, 128, 300, 70000} {
		frame := bytes.Repeat([]byte{0xa5}, n)
		for _, h := range [][]byte{nil, head} {
			want := append(append([]byte(nil), h...), bytesField(2, bytesField(1, frame))...)
			e, err := EncodeNested(h, n, func(b []byte) []byte { return append(b, frame...) }, 2, 1)
			if err != nil {
				t.Fatalf("%d bytes: %v", n, err)
			}
			data, err := Codec{}.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if got := data.Materialize(); !bytes.Equal(got, want) {
				t.Fatalf("%d bytes, head %x: encoded % x..., want % x...", n, h, got[:min(12, len(got))], want[:min(12, len(want))])
			}
			data.Free()
		}
	}
}

func TestEncodeNestedRefusesAFillOfAnotherSize(t *testing.T) {
	for _, wrote := range []int{99, 101} {
		fill := func(b []byte) []byte { return append(b, make([]byte, wrote)...) }
		if _, err := EncodeNested(nil, 100, fill, 1); err == nil {
			t.Errorf("a fill of %d bytes for a field of 100 was sent", wrote)
		}
	}
	if _, err := EncodeNested(nil, 1, func(b []byte) []byte { return append(b, 1) }); err == nil {
		t.Error("a field with no path was sent")
	}
}

// frameMsg is a hand-written vtprotobuf-style message: field 1, bytes,
// decoded in place by UnmarshalVTUnsafe.
type frameMsg struct{ frame []byte }

func (m *frameMsg) Reset() { *m = frameMsg{} }

func (m *frameMsg) UnmarshalVTUnsafe(src []byte) error {
	_, _, n := protowire.ConsumeTag(src)
	v, k := protowire.ConsumeBytes(src[n:])
	if n < 0 || k < 0 {
		return protowire.ParseError(min(n, k))
	}
	m.frame = v
	return nil
}

func TestHeldDecodesInPlaceUntilReleased(t *testing.T) {
	frame := bytes.Repeat([]byte("frame "), 400)
	wire := bytesField(1, frame)
	pool := &countingPool{}
	data := mem.BufferSlice{mem.NewBuffer(&wire, pool)}
	var h Held[frameMsg, *frameMsg]
	err := Codec{}.Unmarshal(data, &h)
	data.Free() // as gRPC does once Unmarshal returns
	if err != nil {
		t.Fatal(err)
	}
	got := h.Msg().frame
	if !bytes.Equal(got, frame) || &got[0] != &wire[len(wire)-len(frame)] {
		t.Fatal("the frame was not decoded in place")
	}
	if pool.put != 0 {
		t.Fatal("the buffer went back to its pool before Release")
	}
	h.Release()
	h.Release() // twice is once
	if pool.put != 1 || h.Msg().frame != nil {
		t.Fatalf("after Release: %d buffers returned (want 1), %d frame bytes left (want 0)", pool.put, len(h.Msg().frame))
	}
}

// HandOver gives the buffer away only when what was written into it fills
// a good part of it, or outgrew it; less is copied into a buffer of its
// size, and the buffer stays for the next message.
func TestHandOverKeepsTheBufferForSmallFills(t *testing.T) {
	const size = 256 << 10
	for _, c := range []struct {
		fill     int
		handsOff bool
	}{{100, false}, {80 << 10, true}, {300 << 10, true}} {
		buf := Buffer(size)
		given := buf
		filled := append((*buf)[:0], bytes.Repeat([]byte{5}, c.fill)...)
		out := HandOver(filled, &buf)
		if !bytes.Equal(*out, filled) {
			t.Errorf("fill %d: handed %d bytes, want the %d written", c.fill, len(*out), len(filled))
		}
		switch gave := out == given; {
		case c.handsOff && (!gave || buf != nil):
			t.Errorf("fill %d: kept the buffer (%v), want it handed over", c.fill, buf != nil)
		case !c.handsOff && (gave || buf != given):
			t.Errorf("fill %d: handed the buffer over, want the bytes copied and the buffer kept", c.fill)
		}
	}
}
