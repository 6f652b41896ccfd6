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

// A slot is a zero item behind the others, whatever the slice held there
// before, and filling it is pushing it.
func TestFIFOSlotIsAZeroItemPushed(t *testing.T) {
	var f fifo[[2]int]
	for i := range 6 {
		f.push([2]int{i, i})
	}
	f.drop(2)
	f.buf = f.buf[:len(f.buf)-1] // leave a stale item past the end, as a reslice may
	for i := range 40 {
		s := f.slot()
		if *s != ([2]int{}) {
			t.Fatalf("slot %d holds %v", i, *s)
		}
		s[0], s[1] = 100+i, 100+i
		if i%3 == 0 {
			f.drop(1)
		}
	}
	got := f.takeAll()
	if len(got) == 0 || got[len(got)-1] != [2]int{139, 139} || got[len(got)-2] != [2]int{138, 138} {
		t.Fatalf("items: %v", got)
	}
}
