package state

// peerTable maps instance ids to peers. Every beacon looks one up, so it is
// a flat open-addressing table of (hash, peer) pairs: a lookup reads one
// slot, where a Go map with string keys touches several cache lines. The
// hash is fixed (a multiply-xorshift over 8-byte words), so nothing about
// it varies between runs; nothing iterates the table where order matters
// (sortedPeers sorts).
type peerTable struct {
	slots []peerSlot // length a power of two, at most half full
	n     int
}

type peerSlot struct {
	h uint64 // 0: empty
	p *peer
}

func hashID(s string) uint64 {
	h := uint64(len(s)) * 0x9e3779b97f4a7c15
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		h = (h ^ w) * 0xbf58476d1ce4e5b9
		h ^= h >> 31
	}
	for ; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 0x94d049bb133111eb
	}
	h ^= h >> 29
	if h == 0 {
		h = 1
	}
	return h
}

func (t *peerTable) len() int { return t.n }

func (t *peerTable) get(id string) *peer {
	if t.n == 0 {
		return nil
	}
	h := hashID(id)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == 0 {
			return nil
		}
		if s.h == h && s.p.id == id {
			return s.p
		}
	}
}

// put adds p, which must not be in the table yet.
func (t *peerTable) put(p *peer) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	t.insert(peerSlot{hashID(p.id), p})
	t.n++
}

func (t *peerTable) insert(e peerSlot) {
	mask := uint64(len(t.slots) - 1)
	i := e.h & mask
	for t.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = e
}

func (t *peerTable) grow() {
	old := t.slots
	t.slots = make([]peerSlot, max(16, 2*len(old)))
	for _, e := range old {
		if e.h != 0 {
			t.insert(e)
		}
	}
}

// del removes the peer with id, shifting back the entries after it so no
// lookup ever stops early.
func (t *peerTable) del(id string) {
	if t.n == 0 {
		return
	}
	h := hashID(id)
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for {
		s := &t.slots[i]
		if s.h == 0 {
			return
		}
		if s.h == h && s.p.id == id {
			break
		}
		i = (i + 1) & mask
	}
	t.n--
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e := t.slots[j]
		if e.h == 0 {
			t.slots[i] = peerSlot{}
			return
		}
		k := e.h & mask // where e would like to be
		// e may move back to i unless its home lies cyclically in (i, j].
		if (i <= j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		t.slots[i] = e
		i = j
	}
}

// each calls fn for every peer, in no particular order.
func (t *peerTable) each(fn func(*peer)) {
	for _, e := range t.slots {
		if e.h != 0 {
			fn(e.p)
		}
	}
}
