package packed

import (
	"crypto/sha256"
	"encoding/binary"
)

// ID is a derived message id: a UUID whose first 74 free bits come from
// the source and epoch and whose last 48 are the number.
//
//	h = SHA-256(source node id bytes || epoch as 8 bytes big-endian)
//	id[0:10]  = h[0:10], then id[6] = 0x40 | id[6]&0x0f (version 4)
//	                      and id[8] = 0x80 | id[8]&0x3f (RFC 4122 variant)
//	id[10:16] = number, 48 bits big-endian
//
// It is unique per (source, epoch) by construction, stable (any reader
// derives the same string), and renders as a canonical version-4 UUID, the
// form every v1 reader of message_id already takes.
type ID [16]byte

// IDPrefix is the part of every derived id of one (source, epoch).
func IDPrefix(source string, epoch uint64) [10]byte {
	h := sha256.New()
	h.Write([]byte(source))
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], epoch)
	h.Write(e[:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var p [10]byte
	copy(p[:], sum[:10])
	p[6] = 0x40 | p[6]&0x0f
	p[8] = 0x80 | p[8]&0x3f
	return p
}

// DeriveID is the id of the message numbered number by (source, epoch).
// number is 1..MaxNumber; higher bits are dropped.
func DeriveID(source string, epoch, number uint64) ID {
	return IDFromPrefix(IDPrefix(source, epoch), number)
}

// IDFromPrefix is the id numbered number under prefix p (IDPrefix).
func IDFromPrefix(p [10]byte, number uint64) ID {
	var id ID
	copy(id[:10], p[:])
	id[10] = byte(number >> 40)
	id[11] = byte(number >> 32)
	binary.BigEndian.PutUint32(id[12:], uint32(number))
	return id
}

// String renders id as a lowercase 8-4-4-4-12 UUID.
func (id ID) String() string {
	var b [36]byte
	return string(id.AppendString(b[:0]))
}

// AppendString appends id's 36-character form to dst.
func (id ID) AppendString(dst []byte) []byte {
	const hex = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range id {
		s[j], s[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
		if i == 3 || i == 5 || i == 7 || i == 9 {
			s[j] = '-'
			j++
		}
	}
	return append(dst, s[:]...)
}
