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
