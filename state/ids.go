package state

import (
	"strings"

	"github.com/nexusd/nexusd/internal/packed"
)

// NewUUID draws a version-4 UUID from r, in the canonical 36-character form.
// Message and subscription ids come from here, so a seeded node names things
// the same way on every run.
func NewUUID(r Source) string {
	var s [36]byte
	putUUID(s[:], r)
	return string(s[:])
}

func putUUID(s []byte, r Source) {
	hi, lo := r.Uint64(), r.Uint64()
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	_ = s[35]
	putHex(s[0:8], hi>>32, 4)
	s[8] = '-'
	putHex(s[9:13], hi>>16, 2)
	s[13] = '-'
	putHex(s[14:18], hi, 2)
	s[18] = '-'
	putHex(s[19:23], lo>>48, 2)
	s[23] = '-'
	putHex(s[24:36], lo, 6)
}

// putHex writes the low n bytes of v into s as 2n hex digits, high first.
func putHex(s []byte, v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		h := hexByte[byte(v)]
		s[2*i], s[2*i+1] = h[0], h[1]
		v >>= 8
	}
}

// hexByte is every byte's two hex digits.
var hexByte = func() (t [256][2]byte) {
	const hex = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{hex[i>>4], hex[i&0xf]}
	}
	return t
}()

// idPool names the messages this node publishes: the id of the k-th is
// derived from (node id, epoch 0, k) as docs/packed.md specifies, so a packed
// frame carries it as nothing and every reader renders the same string. The
// node id is new at every start, which keeps (node id, epoch, number)
// unique. Ids are rendered in blocks of consecutive numbers, as substrings
// of one string, so a publish does not pay an allocation for its id; a
// block is freed when the last message holding one of its ids is.
//
// A message may take its number now and its id string later, when
// something needs the string (Node.named): a packed stream carries the
// number, so a message only packed streams see is never rendered at all.
type idPool struct {
	head   [24]byte // the ids' common first 24 characters: the prefix rendered
	number uint64   // of the last id handed out
	block  string   // ids first, first+1, ... rendered back to back
	first  uint64   // the number of block's first id; 0: no block
}

const idsPerBlock = 64

func newIDPool(node string) idPool {
	var p idPool
	var s [36]byte
	copy(p.head[:], packed.IDFromPrefix(packed.IDPrefix(node, 0), 0).AppendString(s[:0]))
	return p
}

// take renders the next id and returns it with its number (0 past
// packed.MaxNumber, where the id shows only the low 48 bits).
func (p *idPool) take() (string, uint64) {
	p.number++
	id := p.name(p.number)
	if p.number > packed.MaxNumber {
		return id, 0
	}
	return id, p.number
}

// takeNumber is take without the string: the next number, or 0 past
// packed.MaxNumber, when the caller must take the string (take) instead,
// as a number that large does not name its id.
func (p *idPool) takeNumber() uint64 {
	if p.number >= packed.MaxNumber {
		return 0
	}
	p.number++
	return p.number
}

// name renders the id numbered k. The prefix's ten bytes are the first 24
// characters of every id (8-4-4-4- and nothing of the number), rendered
// once; the number is the last 12 hex digits, its low 48 bits, as
// packed.ID.AppendString renders them. Ids are named mostly in order, so
// a block of idsPerBlock is rendered from k whenever k is not in the last.
func (p *idPool) name(k uint64) string {
	if p.first == 0 || k < p.first || k-p.first >= idsPerBlock {
		p.render(k)
	}
	at := int(k-p.first) * 36
	return p.block[at : at+36]
}

// one renders the id numbered k alone.
func (p *idPool) one(k uint64) string {
	var s [36]byte
	copy(s[:24], p.head[:])
	putHex(s[24:], k, 6)
	return string(s[:])
}

// render makes the block of ids from k on. Consecutive numbers mostly
// differ in their last two digits only: it renders the first whole, then
// those two, the rest again at a carry past them. The builder's buffer
// becomes the string (nothing cleared, nothing copied).
func (p *idPool) render(k uint64) {
	var sb strings.Builder
	sb.Grow(36 * idsPerBlock)
	var digits [12]byte
	for i := range uint64(idsPerBlock) {
		switch k := k + i; {
		case i == 0 || byte(k) == 0:
			putHex(digits[:], k, 6)
		default:
			h := hexByte[byte(k)]
			digits[10], digits[11] = h[0], h[1]
		}
		sb.Write(p.head[:])
		sb.Write(digits[:])
	}
	p.block, p.first = sb.String(), k
}

// peerNames renders the ids of peers' messages that came by number
// (Envelope.IDNum) as idPool renders ours: each source's prefix hashed
// once, and a run of consecutive numbers in blocks. Rendering each from
// scratch (Envelope.MessageID) hashes the source for every message, which
// is what a subscriber that is not by number cost the node for each
// message a peer pushed: a third of a receiving daemon's CPU under
// `cross-node` (BENCHMARKS.md). A number that does not follow the last one
// named for its source (this node sees only the topics it wants of a
// source's numbering) is rendered alone, so a sparse sequence does not
// render a block for each. At most maxDerivedPrefixes sources are kept,
// then the table starts afresh.
type peerNames struct {
	source string  // the source of the pool named from last
	pool   *idPool // its pool; nil: none yet
	pools  map[string]*idPool
}

// name renders the id numbered num by source: the id packed.DeriveID
// gives for (source, epoch 0, num).
func (p *peerNames) name(source string, num uint64) string {
	if p.pool == nil || source != p.source {
		pool, ok := p.pools[source]
		if !ok {
			if p.pools == nil || len(p.pools) >= maxDerivedPrefixes {
				p.pools = make(map[string]*idPool)
			}
			pool = new(idPool)
			*pool = newIDPool(source)
			p.pools[source] = pool
		}
		p.source, p.pool = source, pool
	}
	pool := p.pool
	follows := num == pool.number+1
	pool.number = num
	if follows || (pool.first != 0 && num >= pool.first && num-pool.first < idsPerBlock) {
		return pool.name(num)
	}
	return pool.one(num)
}

// float01 draws a float in [0, 1) from r.
func float01(r Source) float64 { return float64(r.Uint64()>>11) / (1 << 53) }
