package netshell

import (
	"unsafe"

	"github.com/nexusd/nexusd/internal/chunks"
	"github.com/nexusd/nexusd/state"
)

// arena copies the small byte strings of received frames out, many to one
// allocation, so a frame of small publishes costs a few allocations
// instead of one a record. A chunk lives as long as the longest-kept
// message holding part of it: a message kept long (the newest of a quiet
// topic, in its ring) holds at most arenaChunkBytes the node does not
// count, as its Message holds its share of a slab (state/run.go). A
// retained value, which may be kept for good, is copied alone by the
// caller; anything over arenaMaxCopy gets an allocation of its own.
//
// A large frame whose records all share one topic is copied into a chunk
// of its own (oneTopic): its messages are one run of consecutive numbers
// on one topic, so every ring and queue lets them go in order, and one
// kept holds at most its older siblings alive, as a run's slab does.
type arena struct {
	chunk []byte
	saved []byte // the shared chunk, while a frame has its own
	own   bool   // chunk is a frame's own
}

const (
	arenaChunkBytes = 2 << 10
	arenaMaxCopy    = 256

	// oneTopicFrameBytes is the smallest frame oneTopic gives a chunk
	// of its own; smaller ones share the 2 KiB chunks. A 1024-record
	// frame of 128-byte payloads then costs one allocation instead of 70:
	// those were a fifteenth of the daemon's CPU on local-1to1-packed.
	oneTopicFrameBytes = 8 << 10
)

// oneTopic readies a for the copies of a frame of records that share one
// topic: frameBytes long, or taking at most that much of the chunk (what
// a batch knows exactly); done ends it. The chunk is no larger than the
// frame's records could fill: a copy over arenaMaxCopy goes elsewhere, so
// a frame of large payloads does not leave most of a chunk its size unused.
func (a *arena) oneTopic(frameBytes, records int) {
	size := min(frameBytes, records*maxChunkedPerRecord)
	if size < oneTopicFrameBytes {
		return
	}
	a.saved, a.chunk, a.own = a.chunk, chunks.New(size), true
}

// maxChunkedPerRecord is the most one record copies into a chunk: its id,
// payload, content type, correlation id and reply topic, each at most
// arenaMaxCopy.
const maxChunkedPerRecord = 5 * arenaMaxCopy

// done ends a frame oneTopic began: what its chunk has left is not used
// for another frame, which may be of another topic.
func (a *arena) done() {
	if a.own {
		a.chunk, a.saved, a.own = a.saved, nil, false
	}
}

// bytes returns a copy of b (nil when b is empty). Its capacity ends with
// it, so appending to it cannot reach a neighbour.
func (a *arena) bytes(b []byte) []byte {
	return chunks.Copy(&a.chunk, b, arenaChunkBytes, arenaMaxCopy)
}

// extras are a publish's texts, copied, or nil when it sets none.
func (a *arena) extras(contentType, correlation, replyTo string) *state.Extras {
	if contentType == "" && correlation == "" && replyTo == "" {
		return nil
	}
	return &state.Extras{ContentType: a.string(contentType), Correlation: a.string(correlation), ReplyTo: a.string(replyTo)}
}

// string returns a copy of s that shares nothing with s.
func (a *arena) string(s string) string {
	if s == "" {
		return ""
	}
	b := a.bytes(unsafe.Slice(unsafe.StringData(s), len(s)))
	return unsafe.String(&b[0], len(b))
}
