package state

import (
	"testing"
	"unsafe"
)

// A Message is allocated for every message a node takes in, eight to a
// slab for a run of local publishes, and the rings hold the newest of
// every topic: at 256 bytes it is in the allocator's 256-byte class (and
// a slab in the 2 KiB one), where 280 took 288 and 2304. A field added
// must keep it there, or say here why it is worth the next class.
func TestAMessageFitsIn256Bytes(t *testing.T) {
	if s := unsafe.Sizeof(Message{}); s > 256 {
		t.Fatalf("Message is %d bytes, want at most 256", s)
	}
	if s := unsafe.Sizeof(Envelope{}); s > 200 {
		t.Fatalf("Envelope is %d bytes, want at most 200 (it is copied per push answer and resend)", s)
	}
}
