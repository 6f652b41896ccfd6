package bufpool

import "testing"

func TestGetReturnsTheLengthAskedInAPowerOfTwoClass(t *testing.T) {
	p := New()
	for _, n := range []int{0, 1, 255, 256, 257, 4096, 40 << 10, 4 << 20} {
		b := p.Get(n)
		if len(*b) != n {
			t.Fatalf("Get(%d): length %d", n, len(*b))
		}
		if c := cap(*b); c < n || c&(c-1) != 0 || c < 256 {
			t.Fatalf("Get(%d): capacity %d, want the power of two that holds it", n, c)
		}
		p.Put(b)
	}
}

func TestPutBuffersAreReusedWithoutClearing(t *testing.T) {
	p := New()
	b := p.Get(40 << 10)
	(*b)[0] = 7
	p.Put(b)
	// sync.Pool may drop what it holds at any GC; try a few times.
	for range 100 {
		c := p.Get(33 << 10)
		if cap(*c) != 64<<10 {
			t.Fatalf("Get(33 KiB): capacity %d, want the 64 KiB class", cap(*c))
		}
		if &(*c)[:1][0] == &(*b)[:1][0] {
			if (*c)[0] != 7 {
				t.Fatal("a reused buffer was cleared")
			}
			return
		}
		p.Put(c)
	}
	t.Skip("the pool never handed the buffer back (dropped by the GC); nothing to check")
}

func TestOversizedAndForeignBuffersAreNotPooled(t *testing.T) {
	p := New()
	big := p.Get(5 << 20)
	if len(*big) != 5<<20 {
		t.Fatalf("Get(5 MiB): length %d", len(*big))
	}
	p.Put(big) // must not panic or land in a class
	odd := make([]byte, 1000)
	p.Put(&odd)
	for c := range p.classes {
		if b, ok := p.classes[c].Get().(*[]byte); ok && cap(*b) != 1<<c {
			t.Fatalf("class %d holds a buffer of capacity %d", c, cap(*b))
		}
	}
}

// A poisoned pool scribbles over what it is given back, all its capacity.
func TestPoisonScribblesOverWhatIsGivenBack(t *testing.T) {
	p := New()
	p.Poison = true
	b := p.Get(1000)
	copy(*b, "payload")
	held := (*b)[:7]
	p.Put(b)
	for i, c := range held {
		if c != 0xdd {
			t.Fatalf("byte %d of a buffer given back is %#x, want 0xdd", i, c)
		}
	}
}
