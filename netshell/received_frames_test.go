package netshell

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"
)

func TestArenaCopiesSmallStringsIntoSharedChunks(t *testing.T) {
	var a arena
	src := []byte("0123456789")
	one, two := a.bytes(src), a.bytes(src)
	src[0] = 'x'
	if string(one) != "0123456789" || string(two) != "0123456789" {
		t.Fatalf("copies changed with their source: %q %q", one, two)
	}
	if unsafe.Pointer(unsafe.SliceData(two)) != unsafe.Add(unsafe.Pointer(unsafe.SliceData(one)), len(one)) {
		t.Fatal("two small copies did not share a chunk")
	}
	if cap(one) != len(one) {
		t.Fatalf("a copy's capacity %d runs past its %d bytes into its neighbour", cap(one), len(one))
	}
	if a.bytes(nil) != nil || a.string("") != "" {
		t.Fatal("an empty copy is not nil / empty")
	}
	big := bytes.Repeat([]byte{'b'}, arenaMaxCopy+1)
	if c := a.bytes(big); cap(c) > len(big)+64 || unsafe.SliceData(c) == unsafe.SliceData(a.chunk) {
		t.Fatal("a copy over arenaMaxCopy went into the chunk")
	}
	s := strings.Repeat("s", 100)
	if c := a.string(s); c != s || unsafe.StringData(c) == unsafe.StringData(s) {
		t.Fatal("string copy shares its source")
	}
	// A chunk that cannot take the next copy is replaced, not grown: the
	// copies already made keep their bytes.
	first := a.bytes([]byte("keep"))
	for range arenaChunkBytes / 100 {
		a.bytes(bytes.Repeat([]byte{'f'}, 100))
	}
	if string(first) != "keep" {
		t.Fatalf("an earlier copy changed: %q", first)
	}
}
