package pushstream

import "slices"

// fifo is a slice used as a queue. Taking from the front moves a head
// index instead of shifting what is left, and the slice is compacted only
// once the taken part outgrows the rest: amortised O(1) per item, where
// shifting a few thousand queued envelopes after every batch was not.
type fifo[T any] struct {
	buf  []T
	head int
}

func (f *fifo[T]) len() int        { return len(f.buf) - f.head }
func (f *fifo[T]) at(i int) *T     { return &f.buf[f.head+i] }
func (f *fifo[T]) push(items ...T) { f.buf = append(f.buf, items...) }

// slot appends a zero item and returns it, to be filled in place. It
// zeroes the slot where it is: appending a zero value would copy one from
// the stack, wider than the stores that wrote it.
func (f *fifo[T]) slot() *T {
	f.buf = slices.Grow(f.buf, 1)[:len(f.buf)+1]
	it := &f.buf[len(f.buf)-1]
	var zero T
	*it = zero
	return it
}

// drop forgets the first n items.
func (f *fifo[T]) drop(n int) {
	clear(f.buf[f.head : f.head+n]) // let go of what they point to
	f.head += n
	switch {
	case f.head == len(f.buf):
		f.buf, f.head = f.buf[:0], 0
	case f.head > len(f.buf)-f.head:
		k := copy(f.buf, f.buf[f.head:])
		clear(f.buf[k:])
		f.buf, f.head = f.buf[:k], 0
	}
}

// take appends the first n items to dst and forgets them.
func (f *fifo[T]) take(dst []T, n int) []T {
	dst = append(dst, f.buf[f.head:f.head+n]...)
	f.drop(n)
	return dst
}

// takeAll returns every item, leaving the fifo empty; the caller owns the
// slice.
func (f *fifo[T]) takeAll() []T {
	out := f.buf[f.head:]
	f.buf, f.head = nil, 0
	return out
}
