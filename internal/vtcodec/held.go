package vtcodec

import "google.golang.org/grpc/mem"

// Held is a received message decoded in place (a Holder), its bytes and
// string fields aliasing gRPC's receive buffer instead of a copy of it: a
// frame whose reader copies out what it keeps and calls Release before it
// receives the next. Receive into it with RecvMsg(&held), and only while
// Active: any other codec refuses a Holder.
type Held[T any, PT interface {
	*T
	UnmarshalVTUnsafe([]byte) error
	Reset()
}] struct {
	m   T
	buf mem.Buffer
}

// UnmarshalHeld decodes buf in place and keeps it until Release.
func (h *Held[T, PT]) UnmarshalHeld(buf mem.Buffer) error {
	h.Release()
	if err := PT(&h.m).UnmarshalVTUnsafe(buf.ReadOnlyData()); err != nil {
		PT(&h.m).Reset()
		return err
	}
	h.buf = buf
	return nil
}

// Size is the length of the buffer held; 0 when none is.
func (h *Held[T, PT]) Size() int {
	if h.buf == nil {
		return 0
	}
	return h.buf.Len()
}

// Msg is the message; its bytes are valid until Release.
func (h *Held[T, PT]) Msg() PT { return &h.m }

// Release gives the buffer back; the message is empty after it. A message
// with pooled parts (vtprotobuf's ResetVT) keeps them for the next one.
func (h *Held[T, PT]) Release() {
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
