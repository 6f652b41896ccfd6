package state

import (
	"hash/crc64"
	"slices"
)

var crcTable = crc64.MakeTable(crc64.ECMA)

// TopicStateHash is topic_state_hash (docs/protocol.md §3.1): CRC-64 (ECMA) over the
// distinct patterns, byte-sorted, each followed by "\n". The empty set
// hashes to 0. patterns may be in any order and hold duplicates.
func TopicStateHash(patterns []string) uint64 {
	sorted := slices.Clone(patterns)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	return hashSorted(sorted)
}

// hashSorted hashes patterns already sorted and distinct.
func hashSorted(sorted []string) uint64 {
	var h uint64
	nl := []byte{'\n'}
	for _, p := range sorted {
		h = crc64.Update(h, crcTable, []byte(p))
		h = crc64.Update(h, crcTable, nl)
	}
	return h
}
