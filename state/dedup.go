package state

// dedupWindow remembers the ids of the last `size` remote messages taken,
// so a message that arrives twice (a retried push, a resend racing the
// original) is delivered once. Every message from a peer passes through
// it, so it holds 64-bit hashes of the ids in a flat open-addressing
// table rather than strings in a map: two different ids colliding in 64
// bits within one window is not a practical concern.
type dedupWindow struct {
	table []uint64 // 0: empty; at most half full
	order []uint64 // ring of the hashes, oldest at head
	head  int
	n     int
	size  int
}

func (d *dedupWindow) init(size int) { d.size = size }

// add records id and reports whether it was new.
func (d *dedupWindow) add(id string) bool {
	h := hashID(id)
	if d.table == nil {
		d.table = make([]uint64, 16)
	}
	if d.contains(h) {
		return false
	}
	if d.n >= d.size {
		d.remove(d.order[d.head])
		d.head = (d.head + 1) % len(d.order)
		d.n--
	}
	if 2*(d.n+1) > len(d.table) {
		d.grow()
	}
	d.insert(h)
	if len(d.order) < d.size {
		d.order = append(d.order, h) // the ring fills up before it wraps
	} else {
		d.order[(d.head+d.n)%len(d.order)] = h
	}
	d.n++
	return true
}

func (d *dedupWindow) contains(h uint64) bool {
	mask := uint64(len(d.table) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch d.table[i] {
		case 0:
			return false
		case h:
			return true
		}
	}
}

func (d *dedupWindow) insert(h uint64) {
	mask := uint64(len(d.table) - 1)
	i := h & mask
	for d.table[i] != 0 {
		i = (i + 1) & mask
	}
	d.table[i] = h
}

func (d *dedupWindow) grow() {
	old := d.table
	d.table = make([]uint64, 2*len(old))
	for _, h := range old {
		if h != 0 {
			d.insert(h)
		}
	}
}

// remove deletes h, shifting back the entries after it (as peerTable.del).
func (d *dedupWindow) remove(h uint64) {
	mask := uint64(len(d.table) - 1)
	i := h & mask
	for d.table[i] != h {
		if d.table[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e := d.table[j]
		if e == 0 {
			d.table[i] = 0
			return
		}
		k := e & mask
		if (i <= j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		d.table[i] = e
		i = j
	}
}
