package vtcodec

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// blob is a hand-written vtprotobuf-style message: field 1, bytes.
type blob struct {
	data  []byte
	grow  bool // MarshalToSizedBufferVT writes one byte less than SizeVT said
	fail  error
	reset int
}

func (b *blob) SizeVT() int {
	return protowire.SizeTag(1) + protowire.SizeBytes(len(b.data))
}

func (b *blob) MarshalToSizedBufferVT(dst []byte) (int, error) {
	if b.fail != nil {
		return 0, b.fail
	}
	enc := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), b.data)
	if b.grow {
		enc = enc[1:]
	}
	copy(dst[len(dst)-len(enc):], enc)
	return len(enc), nil
}

func (b *blob) UnmarshalVT(src []byte) error {
	_, _, n := protowire.ConsumeTag(src)
	v, m := protowire.ConsumeBytes(src[n:])
	if n < 0 || m < 0 {
		return errors.New("blob: bad input")
	}
	b.data = append(b.data, v...)
	return nil
}

func (b *blob) Reset() { b.data, b.reset = nil, b.reset+1 }

func TestImportingRegistersTheCodecAsProto(t *testing.T) {
	if got, ok := encoding.GetCodecV2("proto").(Codec); !ok {
		t.Fatalf(`encoding.GetCodecV2("proto") is %T, want vtcodec.Codec`, got)
	}
	if protobufGo == nil {
		t.Fatal("no protobuf-go codec to fall back on: gRPC's had not registered before this package's init")
	}
	if _, ok := protobufGo.(Codec); ok {
		t.Fatal("the fallback is this codec itself")
	}
}

func TestMessagesWithoutVTMethodsUseProtobufGo(t *testing.T) {
	in := wrapperspb.String("hello")
	data, err := Codec{}.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(in)
	if !bytes.Equal(data.Materialize(), want) {
		t.Fatalf("wire %x, protobuf-go writes %x", data.Materialize(), want)
	}
	out := wrapperspb.String("stale")
	if err := (Codec{}).Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
	if out.GetValue() != "hello" {
		t.Fatalf("decoded %q", out.GetValue())
	}
}

func TestVTMessagesRoundTripSmallAndPooledAndSplitFrames(t *testing.T) {
	for _, n := range []int{0, 10, 64 << 10} {
		in := &blob{data: bytes.Repeat([]byte{'x'}, n)}
		data, err := Codec{}.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		want := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), in.data)
		got := data.Materialize()
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: wire differs", n)
		}
		// A frame that arrives in pieces, as gRPC hands over large ones.
		split := mem.BufferSlice{mem.SliceBuffer(got[:len(got)/2]), mem.SliceBuffer(got[len(got)/2:])}
		out := &blob{data: []byte("left over from the last message")}
		if err := (Codec{}).Unmarshal(split, out); err != nil {
			t.Fatal(err)
		}
		if out.reset != 1 || !bytes.Equal(out.data, in.data) {
			t.Fatalf("%d bytes: decoded %d bytes after %d resets, want the message alone after one", n, len(out.data), out.reset)
		}
		data.Free()
	}
}

func TestDecodedMessageOutlivesTheReceivedBuffer(t *testing.T) {
	frame := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("payload"))
	out := &blob{}
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(frame)}, out); err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 0 // gRPC recycles the buffer
	}
	if string(out.data) != "payload" {
		t.Fatalf("decoded message changed with the receive buffer: %q", out.data)
	}
}

func TestMarshalReportsAMessageThatChangedSize(t *testing.T) {
	_, err := Codec{}.Marshal(&blob{data: []byte("abc"), grow: true})
	if err == nil || !strings.Contains(err.Error(), "modified while being sent") {
		t.Fatalf("err = %v, want the size mismatch reported", err)
	}
	boom := errors.New("boom")
	if _, err := (Codec{}).Marshal(&blob{data: make([]byte, 64<<10), fail: boom}); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

// held is a Holder: it keeps the buffer it decoded in place.
type held struct {
	buf  mem.Buffer
	data []byte
	fail bool
}

func (h *held) UnmarshalHeld(buf mem.Buffer) error {
	if h.fail {
		return errors.New("held: bad input")
	}
	src := buf.ReadOnlyData()
	_, _, n := protowire.ConsumeTag(src)
	h.data, _ = protowire.ConsumeBytes(src[n:])
	h.buf = buf
	return nil
}

// countingPool records the buffers returned to it.
type countingPool struct{ put int }

func (p *countingPool) Get(n int) *[]byte { b := make([]byte, n); return &b }
func (p *countingPool) Put(*[]byte)       { p.put++ }

func TestHolderDecodesInPlaceAndKeepsTheBufferUntilItFreesIt(t *testing.T) {
	payload := bytes.Repeat([]byte("payload "), 512) // pooled: gRPC pools what is over 1 KiB
	frame := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), payload)
	for _, fail := range []bool{false, true} {
		pool := &countingPool{}
		b := append([]byte(nil), frame...)
		data := mem.BufferSlice{mem.NewBuffer(&b, pool)}
		h := &held{fail: fail}
		err := Codec{}.Unmarshal(data, h)
		data.Free() // as gRPC does once Unmarshal returns
		if fail {
			if err == nil || pool.put != 1 {
				t.Fatalf("failed decode: err %v, %d buffers returned; want the error and the buffer freed", err, pool.put)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if pool.put != 0 {
			t.Fatal("the buffer went back to its pool while the holder still reads it")
		}
		if !bytes.Equal(h.data, payload) || &h.data[0] != &b[len(b)-len(payload)] {
			t.Fatalf("decoded %d bytes, not the payload in place", len(h.data))
		}
		h.buf.Free()
		if pool.put != 1 {
			t.Fatalf("%d buffers returned after the holder freed it, want 1", pool.put)
		}
	}
}

func TestEncodedGoesOutAsItIsWithoutACopy(t *testing.T) {
	want := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), bytes.Repeat([]byte("x"), 4<<10))
	buf := Buffer(len(want))
	copy(*buf, want)
	data, err := Codec{}.Marshal(Encode(buf))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 1 || &data[0].ReadOnlyData()[0] != &(*buf)[0] || !bytes.Equal(data.Materialize(), want) {
		t.Fatal("an encoded message was copied or changed on its way out")
	}
	out := &blob{}
	if err := (Codec{}).Unmarshal(data, out); err != nil || len(out.data) != 4<<10 {
		t.Fatalf("what went out does not decode: %v", err)
	}
	data.Free()
}
