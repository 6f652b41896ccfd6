package state

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
)

// The window remembers exactly the last `size` ids taken, when each id is
// a block of its own (not the shape of a derived id).
func TestDedupWindowRemembersTheLastSizeIDs(t *testing.T) {
	var d dedupWindow
	d.init(100)
	add := func(i int) bool { return d.add(fmt.Sprint("m", i), 0) }
	for i := range 100 {
		if !add(i) {
			t.Fatalf("m%d taken for a duplicate", i)
		}
	}
	for _, i := range []int{0, 50, 99} {
		if add(i) {
			t.Fatalf("m%d, inside the window, taken again", i)
		}
	}
	for i := 100; i < 200; i++ { // pushes m0..m99 out
		if !add(i) {
			t.Fatalf("m%d taken for a duplicate", i)
		}
	}
	if !add(0) {
		t.Fatal("m0, out of the window, still remembered")
	}
	for i := 101; i < 200; i++ {
		if add(i) {
			t.Fatalf("recent m%d forgotten", i)
		}
	}
	if d.n != 100 || len(d.blocks) != 100 {
		t.Fatalf("holds %d ids in a ring of %d, window 100", d.n, len(d.blocks))
	}
}

// derived is the id source gives its n-th message.
func derived(source string, n uint64) string { return packed.DeriveID(source, 0, n).String() }

// Derived ids are remembered 64 consecutive numbers of a source to a
// block: a window of 4 blocks holds the last 256 numbers of one source,
// interleaved sources do not disturb each other, and duplicates anywhere
// in the window are caught, in any order.
func TestDedupWindowRemembersBlocksOfDerivedIDs(t *testing.T) {
	var d dedupWindow
	d.init(4)
	for n := uint64(1); n < 256; n++ { // numbers 1-255: blocks 0-3
		if !d.add(derived("a", n), 0) {
			t.Fatalf("a#%d taken for a duplicate", n)
		}
	}
	for _, n := range []uint64{255, 1, 128, 64, 63} {
		if d.add(derived("a", n), 0) {
			t.Fatalf("a#%d, inside the window, taken again", n)
		}
	}
	if d.n != 4 {
		t.Fatalf("255 numbered ids of one source hold %d blocks, want 4", d.n)
	}
	if !d.add(derived("b", 1), 0) { // a fifth block: a's block 0 goes
		t.Fatal("b#1 taken for a duplicate of a's")
	}
	if !d.add(derived("a", 5), 0) {
		t.Fatal("a#5, whose block left the window, still remembered")
	}
	if d.add(derived("b", 1), 0) || d.add(derived("a", 200), 0) {
		t.Fatal("ids inside the window forgotten")
	}
	if !d.add(derived("a", 0x1_0000_0001), 0) || d.add(derived("a", 0x1_0000_0001), 0) {
		t.Fatal("a number far ahead is not taken once")
	}
}

// Random UUIDs (a v1 peer's ids) are one block each: the window is the
// last `size` of them, exactly.
func TestDedupWindowRemembersTheLastSizeUUIDs(t *testing.T) {
	var d dedupWindow
	d.init(50)
	r := rand.New(rand.NewPCG(7, 7))
	ids := make([]string, 120)
	for i := range ids {
		ids[i] = NewUUID(r)
		if !d.add(ids[i], 0) {
			t.Fatalf("uuid %d taken for a duplicate", i)
		}
	}
	for i := 70; i < 120; i++ {
		if d.add(ids[i], 0) {
			t.Fatalf("uuid %d, inside the window, taken again", i)
		}
	}
	if !d.add(ids[69], 0) {
		t.Fatal("uuid 69, out of the window, still remembered")
	}
	if d.n != 50 {
		t.Fatalf("holds %d blocks, window 50", d.n)
	}
}

// An id given with its number (Envelope.IDNum) is the same entry as the id
// read for its number: a message pushed packed and resent over v1 is one
// message. Sources taking turns each keep their own prefix.
func TestDedupWindowTakesAnIDWithOrWithoutItsNumber(t *testing.T) {
	var d dedupWindow
	d.init(16)
	for n := uint64(1); n <= 100; n++ {
		for i, src := range []string{"a", "b", "a", "c"} {
			if again := i == 2; d.add(derived(src, n), n) == again {
				t.Fatalf("%s#%d (seen before: %v), with its number: new %v", src, n, again, !again)
			}
		}
	}
	for n := uint64(1); n <= 100; n++ {
		for _, src := range []string{"a", "b"} {
			if d.add(derived(src, n), 0) {
				t.Fatalf("%s#%d, taken with its number, new again when read from its id", src, n)
			}
		}
	}
	if !d.add(derived("b", 101), 0) || d.add(derived("b", 101), 101) {
		t.Fatal("b#101: read from its id, then given with its number, is one id")
	}
}
