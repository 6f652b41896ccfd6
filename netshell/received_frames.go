package netshell

import (
	"unsafe"

	"google.golang.org/grpc/mem"

	"github.com/nexusd/nexusd/internal/chunks"
)

// arena copies the small byte strings of received frames out, many to one
// allocation, so a frame of small publishes costs a few allocations
// instead of one a record. A chunk lives as long as the longest-kept
// message holding part of it: a message kept long (the newest of a quiet
// topic, in its ring) holds at most arenaChunkBytes the node does not
// count, as its Message holds its share of a slab (state/run.go). A
// retained value, which may be kept for good, is copied alone by the
// caller; anything over arenaMaxCopy gets an allocation of its own.
type arena struct{ chunk []byte }

const (
	arenaChunkBytes = 2 << 10
	arenaMaxCopy    = 256
)

// bytes returns a copy of b (nil when b is empty). Its capacity ends with
// it, so appending to it cannot reach a neighbour.
func (a *arena) bytes(b []byte) []byte {
	return chunks.Copy(&a.chunk, b, arenaChunkBytes, arenaMaxCopy)
}

// payload copies a publish's payload: a retained one alone, as it may be
// kept for good, the rest by bytes.
func (a *arena) payload(b []byte, retained bool) []byte {
	if retained {
		return append([]byte(nil), b...)
	}
	return a.bytes(b)
}

// string returns a copy of s that shares nothing with s.
func (a *arena) string(s string) string {
	if s == "" {
		return ""
	}
	b := a.bytes(unsafe.Slice(unsafe.StringData(s), len(s)))
	return unsafe.String(&b[0], len(b))
}

// held is a received frame message decoded in place, its bytes and string
// fields aliasing gRPC's receive buffer (internal/vtcodec.Holder) instead
// of a copy of it: a PublishPacked or PushPacked frame, or a PublishStream
// batch, whose reader copies out what it keeps and calls release before it
// receives the next.
type held[T any, PT interface {
	*T
	UnmarshalVTUnsafe([]byte) error
	Reset()
}] struct {
	m   T
	buf mem.Buffer
}

func (h *held[T, PT]) UnmarshalHeld(buf mem.Buffer) error {
	h.release()
	if err := PT(&h.m).UnmarshalVTUnsafe(buf.ReadOnlyData()); err != nil {
		PT(&h.m).Reset()
		return err
	}
	h.buf = buf
	return nil
}

// msg is the frame; its bytes are valid until release.
func (h *held[T, PT]) msg() PT { return &h.m }

// release gives the buffer back; the frame is empty after it. A message
// with pooled parts (vtprotobuf's ResetVT) keeps them for the next frame.
func (h *held[T, PT]) release() {
	if r, ok := any(PT(&h.m)).(interface{ ResetVT() }); ok {
		r.ResetVT()
	} else {
		PT(&h.m).Reset()
	}
	if h.buf != nil {
		h.buf.Free()
		h.buf = nil
	}
}
