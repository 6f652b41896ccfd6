package state

// NewUUID draws a version-4 UUID from r, in the canonical 36-character form.
// Message and subscription ids come from here, so a seeded node names things
// the same way on every run.
func NewUUID(r Source) string {
	var s [36]byte
	putUUID(s[:], r)
	return string(s[:])
}

func putUUID(s []byte, r Source) {
	var b [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	const hex = "0123456789abcdef"
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
}

// idPool draws UUIDs in blocks and hands them out as substrings of one
// string, so a publish does not pay an allocation for its id. A block is
// freed when the last message holding one of its ids is.
type idPool struct {
	block string
	next  int
}

const idsPerBlock = 64

func (p *idPool) take(r Source) string {
	if p.next == len(p.block) {
		b := make([]byte, 36*idsPerBlock)
		for i := range idsPerBlock {
			putUUID(b[36*i:36*i+36], r)
		}
		p.block, p.next = string(b), 0
	}
	id := p.block[p.next : p.next+36]
	p.next += 36
	return id
}

// float01 draws a float in [0, 1) from r.
func float01(r Source) float64 { return float64(r.Uint64()>>11) / (1 << 53) }
