// Package vtcodec is the gRPC codec of the daemon and the Go client: it
// encodes and decodes the project's messages with the reflection-free
// methods that vtprotobuf generates next to them (proto/*_vtproto.pb.go),
// and every other message with gRPC's own protobuf-go codec.
//
// Importing the package registers the codec under the name "proto" for the
// whole process, in place of gRPC's default. The bytes on the wire are the
// ones protobuf-go writes and reads, so a v1 peer or client in any language
// sees no difference.
//
// It may not decode into memory it does not own: UnmarshalVT copies every
// string and byte slice out of the received frame, because gRPC recycles
// that frame's buffer (internal/bufpool) as soon as Unmarshal returns. The
// generated UnmarshalVTUnsafe, whose fields alias the frame, is for a
// Holder, which takes a reference to the buffer and frees it itself.
package vtcodec

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto" // registers the fallback before init below runs
	"google.golang.org/grpc/mem"

	"github.com/nexusd/nexusd/internal/bufpool"
)

// Name is the codec's name, and so the content subtype it answers: gRPC's
// default, which every client sends.
const Name = grpcproto.Name

// Message is what vtprotobuf generates for a message type: Size, Marshal
// and (safe) Unmarshal without reflection.
type Message interface {
	SizeVT() int
	MarshalToSizedBufferVT(dst []byte) (int, error)
	UnmarshalVT(src []byte) error
	Reset()
}

// Codec is the registered encoding.CodecV2; it has no state.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// buffers holds the marshalled frames that are too big to leave to the
// GC. Its own pool, not gRPC's process default: a client library may not
// set that, and gRPC's default clears every buffer it hands out, which
// MarshalToSizedBufferVT does not need (it writes every byte it is given).
var buffers = bufpool.New()

// protobufGo is gRPC's protobuf-go codec, the one this package replaces:
// package variables are set before init runs, and gRPC's registers itself
// in the init of a package imported here.
var protobufGo = encoding.GetCodecV2(Name)

func init() { encoding.RegisterCodecV2(Codec{}) }

// Encoded is a message its sender encoded itself into a buffer from
// Buffer, and optionally a tail, a second such buffer that ends it
// (EncodeNestedTail): Marshal hands them to gRPC as they are, without a
// copy, and gRPC gives them back to the pool once written. The sender may
// not touch either buffer after sending it.
type Encoded struct{ buf, tail *[]byte }

// Buffer returns a buffer of n bytes from the codec's pool, to encode an
// Encoded message into.
func Buffer(n int) *[]byte { return buffers.Get(n) }

// Encode wraps buf, which holds one whole encoded message, for sending.
func Encode(buf *[]byte) *Encoded { return &Encoded{buf: buf} }

// Name is "proto".
func (Codec) Name() string { return Name }

// Marshal encodes v into one buffer: a plain slice when it is small, one
// from the pool that gRPC frees once the frame is written otherwise.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*Encoded); ok {
		if e.tail != nil {
			return mem.BufferSlice{mem.NewBuffer(e.buf, buffers), mem.NewBuffer(e.tail, buffers)}, nil
		}
		return mem.BufferSlice{mem.NewBuffer(e.buf, buffers)}, nil
	}
	m, ok := v.(Message)
	if !ok {
		return protobufGo.Marshal(v)
	}
	size := m.SizeVT()
	if mem.IsBelowBufferPoolingThreshold(size) {
		b := make([]byte, size)
		if err := marshalSized(m, b); err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := buffers.Get(size)
	if err := marshalSized(m, *buf); err != nil {
		buffers.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, buffers)}, nil
}

// marshalSized fills b, which is exactly m.SizeVT() long (vtprotobuf
// writes from the end back).
func marshalSized(m Message, b []byte) error {
	n, err := m.MarshalToSizedBufferVT(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		// The message changed between SizeVT and marshalling (a data race
		// in the caller); the front of b would be stale bytes.
		return fmt.Errorf("vtcodec: %T marshalled to %d bytes, its size was %d: was it modified while being sent?", m, n, len(b))
	}
	return nil
}

// Holder is a message that decodes in place, its byte fields aliasing
// the received buffer, and keeps that buffer until it is done with it
// (then it calls Free): a frame read once, right after it arrives, is not
// copied first. On error the codec frees the buffer; on success it is the
// holder's.
type Holder interface {
	UnmarshalHeld(buf mem.Buffer) error
}

// Unmarshal decodes data into v, which it resets first as proto.Unmarshal
// does. Nothing in v refers to data afterwards, unless v is a Holder.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if h, ok := v.(Holder); ok {
		buf := data.MaterializeToBuffer(buffers) // a reference of its own: data is freed when this returns
		if err := h.UnmarshalHeld(buf); err != nil {
			buf.Free()
			return err
		}
		return nil
	}
	m, ok := v.(Message)
	if !ok {
		return protobufGo.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(buffers) // one buffer in: no copy
	defer buf.Free()
	m.Reset()
	return m.UnmarshalVT(buf.ReadOnlyData())
}

// Active reports whether this package's codec is the process's "proto"
// codec, as importing it makes it unless something registered another
// since: a Holder is decoded in place only then, and any other codec
// refuses one.
func Active() bool {
	_, ok := encoding.GetCodecV2(Name).(Codec)
	return ok
}
