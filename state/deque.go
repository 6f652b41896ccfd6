package state

// deque is a growable ring buffer: push at the back, pop at either end,
// index from the front. It starts empty and grows by doubling, so a
// thousand idle topics cost a thousand empty headers, not a thousand rings.
type deque[T any] struct {
	buf  []T
	head int
	n    int
}

func (d *deque[T]) len() int { return d.n }

func (d *deque[T]) at(i int) T { return d.buf[(d.head+i)&(len(d.buf)-1)] }

func (d *deque[T]) front() T { return d.buf[d.head] }

func (d *deque[T]) atPtr(i int) *T { return &d.buf[(d.head+i)&(len(d.buf)-1)] }

func (d *deque[T]) back() T { return d.at(d.n - 1) }

func (d *deque[T]) pushBack(v T) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.buf[(d.head+d.n)&(len(d.buf)-1)] = v
	d.n++
}

// pushBackSlot appends a zero value and returns it, to be filled in
// place (outgoing.copyTo says why a hot path wants that).
func (d *deque[T]) pushBackSlot() *T {
	if d.n == len(d.buf) {
		d.grow()
	}
	v := &d.buf[(d.head+d.n)&(len(d.buf)-1)]
	var zero T
	*v = zero // pops clear their slots, but a slot's contract is its own
	d.n++
	return v
}

// pushBackAll appends vs in order, growing once.
func (d *deque[T]) pushBackAll(vs []T) {
	if len(vs) == 0 {
		return
	}
	if d.n+len(vs) > len(d.buf) {
		d.growTo(d.n + len(vs))
	}
	i := (d.head + d.n) & (len(d.buf) - 1)
	end := len(d.buf) // the free slots run from i to end, then from 0 to head
	if i < d.head {
		end = d.head
	}
	c := copy(d.buf[i:end], vs)
	copy(d.buf, vs[c:])
	d.n += len(vs)
}

func (d *deque[T]) pushFront(v T) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.head = (d.head - 1) & (len(d.buf) - 1)
	d.buf[d.head] = v
	d.n++
}

func (d *deque[T]) popFront() T {
	var zero T
	v := d.buf[d.head]
	d.buf[d.head] = zero
	d.head = (d.head + 1) & (len(d.buf) - 1)
	d.n--
	return v
}

func (d *deque[T]) popBack() T {
	var zero T
	i := (d.head + d.n - 1) & (len(d.buf) - 1)
	v := d.buf[i]
	d.buf[i] = zero
	d.n--
	return v
}

func (d *deque[T]) grow() { d.growTo(d.n + 1) }

// growTo doubles the buffer (to 4 at first) until it holds n.
func (d *deque[T]) growTo(n int) {
	size := max(2*len(d.buf), 4)
	for size < n {
		size *= 2
	}
	buf := make([]T, size)
	for i := 0; i < d.n; i++ {
		buf[i] = d.at(i)
	}
	d.buf, d.head = buf, 0
}

// filter keeps the elements for which keep returns true, in order.
func (d *deque[T]) filter(keep func(T) bool) {
	var zero T
	w := 0
	for i := 0; i < d.n; i++ {
		v := d.at(i)
		if keep(v) {
			d.buf[(d.head+w)&(len(d.buf)-1)] = v
			w++
		}
	}
	for i := w; i < d.n; i++ {
		d.buf[(d.head+i)&(len(d.buf)-1)] = zero
	}
	d.n = w
}

// clear empties the deque and lets its buffer go.
func (d *deque[T]) clear() { *d = deque[T]{} }

// arena hands out reusable values for the effects of one Step. Growing
// starts a fresh block, so pointers already handed out stay valid until
// reset.
type arena[T any] struct {
	buf []T
	n   int
}

func (a *arena[T]) next() *T {
	if a.n == len(a.buf) {
		a.buf = make([]T, 2*len(a.buf)+16)
		a.n = 0
	}
	p := &a.buf[a.n]
	a.n++
	var zero T
	*p = zero
	return p
}

func (a *arena[T]) reset() { a.n = 0 }
