package vtcodec

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// EncodeNested encodes, ready to send, a message made of head (fields of
// the outermost message, already encoded; nil for none) and one bytes
// field of n bytes nested at path (the outermost field first: path 2, 1 is
// field 1 of the message in field 2). fill writes the n bytes, appending
// them to the slice it is given, straight into a buffer from the codec's
// pool: a packed frame goes out with one copy, not into a frame, then into
// the message, then into gRPC's buffer. Send the result only while Active:
// another codec cannot marshal it.
func EncodeNested(head []byte, n int, fill func([]byte) []byte, path ...protowire.Number) (*Encoded, error) {
	return encodeNested(head, n, fill, nil, path)
}

// EncodeNestedTail is EncodeNested for a field whose n bytes end with
// tail, a buffer from Buffer that the caller hands over with the message:
// fill writes the n-len(*tail) bytes before it, and tail goes out as it
// is, after them, without a copy (a packed frame's records, encoded
// straight into it). gRPC frees tail with the message; the caller may not
// touch it again, even when EncodeNestedTail fails.
func EncodeNestedTail(head []byte, n int, fill func([]byte) []byte, tail *[]byte, path ...protowire.Number) (*Encoded, error) {
	return encodeNested(head, n, fill, tail, path)
}

func encodeNested(head []byte, n int, fill func([]byte) []byte, tail *[]byte, path []protowire.Number) (*Encoded, error) {
	var sizes [4]int // the length of each nested field's value
	if len(path) == 0 || len(path) > len(sizes) {
		return nil, fmt.Errorf("vtcodec: a nested field needs a path of 1 to %d fields, not %d", len(sizes), len(path))
	}
	tailLen := 0
	if tail != nil {
		tailLen = len(*tail)
	}
	if tailLen > n {
		return nil, fmt.Errorf("vtcodec: a nested field of %d bytes cannot end with %d", n, tailLen)
	}
	size := n
	for i := len(path) - 1; i >= 0; i-- {
		sizes[i] = size
		size = protowire.SizeTag(path[i]) + protowire.SizeBytes(size)
	}
	size += len(head) - tailLen
	buf := Buffer(size)
	b := append((*buf)[:0], head...)
	for i, f := range path {
		b = protowire.AppendTag(b, f, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizes[i]))
	}
	filled := len(b)
	b = fill(b)
	if len(b) != size || &b[0] != &(*buf)[0] { // short, long, or moved out of buf
		buffers.Put(buf)
		return nil, fmt.Errorf("vtcodec: a nested field of %d bytes was filled with %d", n, len(b)-filled+tailLen)
	}
	*buf = b
	return &Encoded{buf: buf, tail: tail}, nil
}

// HandOver returns the buffer to send as the tail of EncodeNestedTail for
// filled, the bytes written into *buf by appending (a packed frame's
// records). It is *buf itself, which the caller then gives up (*buf
// becomes nil), when filled takes a quarter of it or more, or outgrew
// it; fewer bytes are copied into a buffer of their size, and *buf stays
// for the next frame: gRPC holds a message until it writes it, maybe
// long behind a slow reader, and small ones should hold little. With no
// buffer (*buf nil), filled goes as it is.
func HandOver(filled []byte, buf **[]byte) *[]byte {
	if *buf != nil && len(filled) < cap(**buf)/4 {
		out := Buffer(len(filled))
		*out = append((*out)[:0], filled...)
		return out
	}
	out := *buf
	if out == nil {
		out = new([]byte)
	}
	*out, *buf = filled, nil // filled may have moved out of *out: a message larger than the buffer
	return out
}
