package state

import (
	"fmt"
	"testing"
)

// pushBackAll appends as pushBack would, across the ring's wrap and
// through growth.
func TestDequeAppendsARunAsOneByOne(t *testing.T) {
	for start := range 10 {
		for pops := range start + 1 {
			for k := range 20 {
				var a, b deque[int]
				for i := range start {
					a.pushBack(i)
					b.pushBack(i)
				}
				for range pops {
					a.popFront()
					b.popFront()
				}
				run := make([]int, k)
				for i := range run {
					run[i] = 100 + i
					a.pushBack(100 + i)
				}
				b.pushBackAll(run)
				if got, want := dequeItems(&b), dequeItems(&a); got != want {
					t.Fatalf("start %d pops %d run %d: %s, want %s", start, pops, k, got, want)
				}
			}
		}
	}
}

func dequeItems(d *deque[int]) string {
	var out []int
	for i := 0; i < d.len(); i++ {
		out = append(out, d.at(i))
	}
	return fmt.Sprint(out)
}

// pushBackSlot is pushBack of a zero value, filled afterwards, across the
// ring's wrap and growth.
func TestDequeSlotIsPushBack(t *testing.T) {
	var a, b deque[[2]int]
	for i := range 50 {
		a.pushBack([2]int{i, -i})
		s := b.pushBackSlot()
		if *s != ([2]int{}) {
			t.Fatalf("push %d: slot holds %v", i, *s)
		}
		s[0], s[1] = i, -i
		if i%4 == 3 {
			a.popFront()
			b.popFront()
		}
	}
	if a.len() != b.len() {
		t.Fatalf("%d items, want %d", b.len(), a.len())
	}
	for i := range a.len() {
		if a.at(i) != b.at(i) {
			t.Fatalf("item %d: %v, want %v", i, b.at(i), a.at(i))
		}
	}
	if b.n < len(b.buf) {
		b.buf[(b.head+b.n)&(len(b.buf)-1)] = [2]int{7, 7} // stale, as a careless pop would leave it
		if s := b.pushBackSlot(); *s != ([2]int{}) {
			t.Fatalf("a slot over stale memory holds %v", *s)
		}
	}
}
