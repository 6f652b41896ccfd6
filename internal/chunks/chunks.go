// Package chunks copies small byte strings many to one allocation, for the
// daemon's readers of received frames and the client's Publisher: a frame
// of small messages then costs a few allocations instead of one a message.
// A chunk lives as long as the longest-kept copy in it, so it is for
// copies that are let go at about the same time; it holds no lock.
package chunks

import (
	"strings"
	"unsafe"
)

// Copy returns a copy of b (nil when b is empty) taken from *chunk, which
// it replaces with a new chunk of chunkBytes when b does not fit; a b over
// max bytes gets an allocation of its own. The copy's capacity ends with
// it, so appending to it cannot reach a neighbour.
func Copy(chunk *[]byte, b []byte, chunkBytes, max int) []byte {
	switch {
	case len(b) == 0:
		return nil
	case len(b) > max:
		return append([]byte(nil), b...)
	case len(*chunk)+len(b) > cap(*chunk):
		*chunk = uncleared(chunkBytes)
	}
	start := len(*chunk)
	*chunk = append(*chunk, b...)
	return (*chunk)[start:len(*chunk):len(*chunk)]
}

// New returns an empty chunk with room for n bytes, not cleared first,
// for a caller that knows how much its copies will take together: Copy
// then fills it without replacing it while they fit.
func New(n int) []byte { return uncleared(n) }

// uncleared returns an empty slice with room for n bytes that are not
// zeroed first, as make would: a chunk's bytes are only ever read after
// Copy has written them, and clearing a chunk cost as much as copying
// into it (a twentieth of the daemon's CPU on a stream of small
// publishes). strings.Builder.Grow allocates without clearing; the
// builder is dropped, and its buffer is reachable only from the result.
func uncleared(n int) []byte {
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(0) // a String of length 0 need not point at the buffer
	return unsafe.Slice(unsafe.StringData(sb.String()), n)[:0:n]
}
