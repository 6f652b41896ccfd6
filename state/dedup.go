package state

import "github.com/nexusd/nexusd/internal/packed"

// dedupWindow remembers the ids of recent remote messages taken, so a
// message that arrives twice (a retried push, a resend racing the
// original) is delivered once. Every message from a peer passes through
// it, so it is built for the ids this daemon's peers give: a message id
// derived from (source, epoch, number) (ids.go) is 24 characters that
// name its source and 12 hex digits of its number, and a source's
// messages come in order of their numbers. So an id of that shape is
// remembered as one bit of a block: the 64 consecutive numbers of one
// prefix share a 64-bit mask, under a 64-bit hash of (prefix, number/64).
// A stream of one source's messages then touches one block 64 times in a
// row, held aside (last) so that the table is not looked at, instead of
// a random slot of a megabyte-sized table twice a message. Any other id
// is a block of its own, a hash of the whole id and one bit; a random
// UUID, whose last 12 digits are random, is in practice one too. Two
// different blocks colliding in 64 bits within one window is not a
// practical concern.
//
// The window holds the last `size` blocks taken, oldest first in a ring:
// at least the ids of the last `size` messages, and 64 times more from a
// peer that numbers its messages. An id taken into a block made long
// before (a late resend) lives only as long as that block.
type dedupWindow struct {
	blocks []dedupBlock // the ring: oldest at head; at most size
	table  []uint32     // open addressing over blocks: 0 empty, else 1 + index; at most half full
	head   int
	n      int
	size   int
	last   int // the block found or made last, a run of one source's messages skips the table; -1: none

	// The prefix of the last derived id taken, and its hash: a run of one
	// source's ids hashes its prefix once. source is the instance whose
	// derived ids have that prefix, when known (addDerived).
	prefix     string
	prefixHash uint64
	source     string

	// The prefixes of the sources addDerived met, so that a frame mixing
	// sources derives each prefix (a hash of the source) once, not at
	// every change of source; at most maxDerivedPrefixes, then afresh.
	prefixes map[string]string
}

const maxDerivedPrefixes = 1024

type dedupBlock struct {
	key  uint64 // hash of (prefix, number/64), or of the whole id
	bits uint64 // the ids taken: bit number%64, or bit 0
}

func (d *dedupWindow) init(size int) { d.size, d.last = size, -1 }

// add records id and reports whether it was new. num is the number id is
// derived from when the caller has it (Envelope.IDNum), else 0: then it
// is read out of id, if id has the shape of a derived one.
func (d *dedupWindow) add(id string, num uint64) bool {
	return d.addKey(d.key(id, num))
}

// addDerived is add for the id derived from (source, epoch 0, num),
// num not 0, without that id rendered: the same block and bit as add of
// the rendered id.
func (d *dedupWindow) addDerived(source string, num uint64) bool {
	if source != d.source || source == "" {
		p, ok := d.prefixes[source]
		if !ok {
			if d.prefixes == nil || len(d.prefixes) >= maxDerivedPrefixes {
				d.prefixes = make(map[string]string)
			}
			p = packed.DeriveID(source, 0, 0).String()[:24]
			d.prefixes[source] = p
		}
		if p != d.prefix {
			d.prefix, d.prefixHash = p, hashID(p)
		}
		d.source = source
	}
	return d.addKey(d.numberKey(num))
}

// addKey records bit in the block key and reports whether it was new.
func (d *dedupWindow) addKey(key, bit uint64) bool {
	i := d.last
	if i < 0 || d.blocks[i].key != key {
		i = d.find(key)
	}
	if i >= 0 {
		d.last = i
		b := &d.blocks[i]
		if b.bits&bit != 0 {
			return false
		}
		b.bits |= bit
		return true
	}
	d.insert(dedupBlock{key: key, bits: bit})
	return true
}

// key is an id's block and its bit in it (num as for add).
func (d *dedupWindow) key(id string, num uint64) (key, bit uint64) {
	if num == 0 || len(id) != 36 {
		var ok bool
		if num, ok = packed.IDNumber(id); !ok {
			return hashID(id), 1
		}
	}
	if id[:24] != d.prefix {
		d.prefix, d.prefixHash, d.source = id[:24], hashID(id[:24]), ""
	}
	return d.numberKey(num)
}

// numberKey is the block and bit of number num under the current prefix.
func (d *dedupWindow) numberKey(num uint64) (key, bit uint64) {
	h := d.prefixHash ^ (num>>6)*0x9e3779b97f4a7c15
	h ^= h >> 32
	h *= 0xd6e8feb86659fd93
	h ^= h >> 32
	return h, 1 << (num & 63)
}

// find returns the index of the block with key, or -1.
func (d *dedupWindow) find(key uint64) int {
	if len(d.table) == 0 {
		return -1
	}
	mask := uint64(len(d.table) - 1)
	for i := key & mask; ; i = (i + 1) & mask {
		e := d.table[i]
		if e == 0 {
			return -1
		}
		if d.blocks[e-1].key == key {
			return int(e - 1)
		}
	}
}

// insert adds a block, letting the oldest go when the window is full.
func (d *dedupWindow) insert(b dedupBlock) {
	if d.n >= d.size {
		d.unlist(d.head)
		if d.last == d.head {
			d.last = -1
		}
		d.head = (d.head + 1) % len(d.blocks)
		d.n--
	}
	var slot int
	if len(d.blocks) < d.size { // the ring fills up before it wraps
		d.blocks = append(d.blocks, b)
		slot = len(d.blocks) - 1
	} else {
		slot = (d.head + d.n) % len(d.blocks)
		d.blocks[slot] = b
	}
	d.n++
	if 2*d.n > len(d.table) {
		d.grow()
	} else {
		d.list(slot)
	}
	d.last = slot
}

// list puts block slot in the table.
func (d *dedupWindow) list(slot int) {
	mask := uint64(len(d.table) - 1)
	i := d.blocks[slot].key & mask
	for d.table[i] != 0 {
		i = (i + 1) & mask
	}
	d.table[i] = uint32(slot + 1)
}

// grow doubles the table and lists every block in the window again.
func (d *dedupWindow) grow() {
	d.table = make([]uint32, max(16, 2*len(d.table)))
	for k := range d.n {
		d.list((d.head + k) % len(d.blocks))
	}
}

// unlist takes block slot out of the table, shifting back the entries
// after it (as peerTable.del).
func (d *dedupWindow) unlist(slot int) {
	mask := uint64(len(d.table) - 1)
	want := uint32(slot + 1)
	i := d.blocks[slot].key & mask
	for d.table[i] != want {
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
		k := d.blocks[e-1].key & mask
		if (i <= j && i < k && k <= j) || (i > j && (i < k || k <= j)) {
			continue
		}
		d.table[i] = e
		i = j
	}
}
