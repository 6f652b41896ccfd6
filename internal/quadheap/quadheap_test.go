package quadheap

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Items come out by time, and those due at the same time in the order
// they were pushed, whatever the order of pushing and popping.
func TestItemsComeOutByTimeThenByPushOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Heap[int]
	var want []Item[int]
	var got []Item[int]
	seq := uint64(0)
	for range 5000 {
		if len(h) > 0 && r.IntN(3) == 0 {
			got = append(got, h.Pop())
			continue
		}
		seq++
		it := Item[int]{At: time.Duration(r.IntN(50)), Seq: seq, V: int(seq)}
		h.Push(it)
	}
	for len(h) > 0 {
		got = append(got, h.Pop())
	}
	// Replay the same operations against a sorted slice.
	r = rand.New(rand.NewPCG(1, 2))
	var ref []Item[int]
	seq = 0
	cmp := func(a, b Item[int]) int {
		if a.At != b.At {
			return int(a.At - b.At)
		}
		return int(a.Seq) - int(b.Seq)
	}
	for range 5000 {
		if len(ref) > 0 && r.IntN(3) == 0 {
			want = append(want, ref[0])
			ref = ref[1:]
			continue
		}
		seq++
		it := Item[int]{At: time.Duration(r.IntN(50)), Seq: seq, V: int(seq)}
		i, _ := slices.BinarySearchFunc(ref, it, cmp)
		ref = slices.Insert(ref, i, it)
	}
	want = append(want, ref...)
	if !slices.Equal(got, want) {
		t.Fatalf("heap order differs from sorted order (%d items)", len(want))
	}
}

func TestPopLetsGoOfTheItem(t *testing.T) {
	var h Heap[*int]
	for i := range 3 {
		h.Push(Item[*int]{At: time.Duration(i), Seq: uint64(i), V: new(int)})
	}
	h.Pop()
	if tail := h[:cap(h)][len(h)]; tail.V != nil {
		t.Fatal("a popped slot still points at its value")
	}
}
