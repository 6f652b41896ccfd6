package packed

import "math/bits"

// Varints are protobuf's: little-endian groups of 7 bits, the high bit set
// on every byte but the last. A reader here also refuses an overlong one
// (a last byte of 0 after others), so every value has exactly one
// encoding. Signed deltas are zigzag-encoded, as protobuf's sint64.

// appendUvarint appends v as a varint.
func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// uvarintLen is the number of bytes appendUvarint writes for v.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// zigzag maps a difference of two uint64s, read as signed, to an unsigned
// varint value: 0, -1, 1, -2... become 0, 1, 2, 3...
func zigzag(d uint64) uint64 { return d<<1 ^ uint64(int64(d)>>63) }

// unzigzag inverts zigzag.
func unzigzag(v uint64) uint64 { return v>>1 ^ -(v & 1) }

// readUvarint reads a varint from b at p. It returns the value and the
// position after it, or n < 0: -1 truncated, -2 longer than 64 bits,
// -3 overlong.
func readUvarint(b []byte, p int) (v uint64, next int) {
	if p < len(b) && b[p] < 0x80 { // one byte: the common case
		return uint64(b[p]), p + 1
	}
	var s uint
	for i := 0; i < 10; i++ {
		if p+i >= len(b) {
			return 0, -1
		}
		c := b[p+i]
		if c < 0x80 {
			if i == 9 && c > 1 {
				return 0, -2
			}
			if c == 0 && i > 0 {
				return 0, -3
			}
			return v | uint64(c)<<s, p + i + 1
		}
		v |= uint64(c&0x7f) << s
		s += 7
	}
	return 0, -2
}

// varintProblem names what readUvarint's negative result means.
func varintProblem(n int) string {
	switch n {
	case -1:
		return "truncated varint"
	case -2:
		return "varint longer than 64 bits"
	default:
		return "overlong varint (a trailing zero byte): every value has one encoding"
	}
}
