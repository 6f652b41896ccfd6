package pushstream

import (
	"slices"
	"testing"
)

// Whatever the mix of pushes and takes, items come out in the order they
// went in, and the buffer does not grow past a small multiple of what is
// queued.
func TestFIFOKeepsOrderAndStaysCompact(t *testing.T) {
	var f fifo[int]
	next, want := 0, 0
	for round := range 2000 {
		for range round%7 + 1 {
			f.push(next)
			next++
		}
		n := min(f.len(), round%5+1)
		got := f.take(nil, n)
		for _, v := range got {
			if v != want {
				t.Fatalf("round %d: took %d, want %d", round, v, want)
			}
			want++
		}
		if len(f.buf) > 2*f.len()+16 {
			t.Fatalf("round %d: %d slots for %d items", round, len(f.buf), f.len())
		}
	}
	rest := f.takeAll()
	if !slices.Equal(rest, makeRange(want, next)) || f.len() != 0 {
		t.Fatalf("takeAll: %v", rest)
	}
}

func TestFIFODropLetsGoOfItems(t *testing.T) {
	var f fifo[*int]
	for range 4 {
		f.push(new(int))
	}
	f.drop(1)
	if f.buf[0] != nil && f.head == 1 {
		t.Fatal("a dropped slot still points at its item")
	}
}

func makeRange(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
