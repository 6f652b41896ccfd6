package state

// NewUUID draws a version-4 UUID from r, in the canonical 36-character form.
// Message and subscription ids come from here, so a seeded node names things
// the same way on every run.
func NewUUID(r Source) string {
	var b [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	const hex = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(s[:])
}

// float01 draws a float in [0, 1) from r.
func float01(r Source) float64 { return float64(r.Uint64()>>11) / (1 << 53) }
