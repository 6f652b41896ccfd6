package chunks

import (
	"bytes"
	"testing"
)

// TestCopiesShareChunksAndStayApart: small copies share a chunk until it
// is full, each is equal to its source and capped at its end; a large
// one and an empty one share nothing.
func TestCopiesShareChunksAndStayApart(t *testing.T) {
	var chunk []byte
	a := Copy(&chunk, []byte("abc"), 8, 4)
	b := Copy(&chunk, []byte("defg"), 8, 4)
	if string(a) != "abc" || string(b) != "defg" || &a[:cap(a)][0] != &chunk[0] {
		t.Fatalf("copies %q %q do not share the chunk", a, b)
	}
	if cap(a) != 3 || cap(b) != 4 {
		t.Fatalf("capacities %d, %d: appending would reach a neighbour", cap(a), cap(b))
	}
	c := Copy(&chunk, []byte("hi"), 8, 4) // 7 + 2 > 8: a new chunk
	if &c[0] != &chunk[0] || string(b) != "defg" {
		t.Fatal("a copy that does not fit did not start a new chunk")
	}
	src := []byte("longer")
	d := Copy(&chunk, src, 8, 4)
	src[0] = 'X'
	if !bytes.Equal(d, []byte("longer")) || len(chunk) != 2 {
		t.Fatalf("a copy over max: %q, chunk now %d bytes", d, len(chunk))
	}
	if Copy(&chunk, nil, 8, 4) != nil || Copy(&chunk, []byte{}, 8, 4) != nil {
		t.Fatal("an empty copy is not nil")
	}
}

// TestUnclearedChunksHoldWhatWasCopied: a chunk that was not zeroed
// hands out exactly the bytes copied into it, at its full size.
func TestUnclearedChunksHoldWhatWasCopied(t *testing.T) {
	for _, n := range []int{1, 100, 2 << 10, 16 << 10} {
		c := uncleared(n)
		if len(c) != 0 || cap(c) != n {
			t.Fatalf("uncleared(%d): len %d cap %d", n, len(c), cap(c))
		}
		c = append(c, bytes.Repeat([]byte{7}, n)...)
		for i, v := range c {
			if v != 7 {
				t.Fatalf("uncleared(%d): byte %d is %d after the copy", n, i, v)
			}
		}
	}
	var chunk []byte
	var got [][]byte
	for i := range 100 {
		got = append(got, Copy(&chunk, []byte{byte(i), byte(i)}, 64, 16))
	}
	for i, g := range got {
		if g[0] != byte(i) || g[1] != byte(i) {
			t.Fatalf("copy %d holds %v", i, g)
		}
	}
}
