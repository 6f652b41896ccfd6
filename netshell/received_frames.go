package netshell

import (
	"unsafe"

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
