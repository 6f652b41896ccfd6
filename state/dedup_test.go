package state

import (
	"fmt"
	"testing"
)

// The window remembers exactly the last `size` ids taken.
func TestDedupWindowRemembersTheLastSizeIDs(t *testing.T) {
	var d dedupWindow
	d.init(100)
	add := func(i int) bool { return d.add(fmt.Sprint("m", i)) }
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
	if d.n != 100 || len(d.order) != 100 {
		t.Fatalf("holds %d ids in a ring of %d, window 100", d.n, len(d.order))
	}
}
