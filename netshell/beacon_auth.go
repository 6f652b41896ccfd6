package netshell

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nexusd/nexusd/internal/keyring"
)

// Beacon authentication (docs/protocol.md §10.2; proto/discovery.proto, fields
// 8-11). With a cluster key every beacon carries the id of the key that
// signed it, a (boot epoch, counter) pair and an HMAC-SHA256 tag over the
// rest of its encoding; its topic hash is masked so only members read it.
// A receiver checks the tag with the one key the id names before the
// beacon goes anywhere, so a flood of forged beacons costs a decode and a
// hash each, and the loop never sees them. Replays carry a valid tag: the
// core refuses them by their pair.

// beaconTagField is auth_tag's field number.
const beaconTagField = 8

// beaconKeys are a ring's beacon secrets with their HMACs ready. One
// goroutine uses one beaconKeys (an HMAC is reset, not shared).
type beaconKeys struct {
	ring *keyring.Ring
	tags map[uint32]hash.Hash // by key id
	mask map[uint32]hash.Hash
}

func newBeaconKeys(r *keyring.Ring) *beaconKeys {
	k := &beaconKeys{ring: r, tags: map[uint32]hash.Hash{}, mask: map[uint32]hash.Hash{}}
	for _, key := range r.Keys() {
		k.tags[key.ID] = hmac.New(sha256.New, key.MACKey("beacon tag"))
		k.mask[key.ID] = hmac.New(sha256.New, key.MACKey("beacon hash mask"))
	}
	return k
}

// forRing returns k if it was made for r, else new keys for r (nil for no
// ring).
func (k *beaconKeys) forRing(r *keyring.Ring) *beaconKeys {
	switch {
	case r == nil:
		return nil
	case k != nil && k.ring == r:
		return k
	}
	return newBeaconKeys(r)
}

// primary is the id of the key beacons are signed with.
func (k *beaconKeys) primary() uint32 { return k.ring.Primary().ID }

// hashMask is what masks a topic hash sent by instance with this pair,
// under key id (which must be in the ring).
func (k *beaconKeys) hashMask(id uint32, instance string, epoch, counter uint64) uint64 {
	m := k.mask[id]
	m.Reset()
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], epoch)
	binary.BigEndian.PutUint64(buf[8:], counter)
	m.Write([]byte(instance))
	m.Write(buf[:])
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(m.Sum(sum[:0]))
}

// seal appends the tag of data, a beacon's encoding without one, under key
// id.
func (k *beaconKeys) seal(id uint32, data []byte) []byte {
	var sum [sha256.Size]byte
	tag := k.tag(id, sum[:0], data, nil)
	data = protowire.AppendTag(data, beaconTagField, protowire.BytesType)
	return protowire.AppendBytes(data, tag)
}

func (k *beaconKeys) tag(id uint32, out, before, after []byte) []byte {
	m := k.tags[id]
	m.Reset()
	m.Write(before)
	m.Write(after)
	return m.Sum(out)
}

// check reports why a beacon's encoding data, which names key id and
// carries tag, is not authentic, or "" when it is.
func (k *beaconKeys) check(data []byte, id uint32, tag []byte) string {
	if len(tag) == 0 {
		return dropUnauthenticated
	}
	if _, ok := k.tags[id]; !ok {
		return dropUnknownKey
	}
	start, end, ok := tagSpan(data)
	if !ok {
		return dropBadTag
	}
	var sum [sha256.Size]byte
	if !hmac.Equal(k.tag(id, sum[:0], data[:start], data[end:]), tag) {
		return dropBadTag
	}
	return ""
}

// tagSpan finds the one auth_tag field in a beacon's encoding: the bytes
// data[start:end] it takes. Two tags, or none, is no valid beacon.
func tagSpan(data []byte) (start, end int, ok bool) {
	found := false
	for i := 0; i < len(data); {
		num, typ, n := protowire.ConsumeTag(data[i:])
		if n < 0 {
			return 0, 0, false
		}
		m := protowire.ConsumeFieldValue(num, typ, data[i+n:])
		if m < 0 {
			return 0, 0, false
		}
		if num == beaconTagField {
			if found {
				return 0, 0, false
			}
			start, end, found = i, i+n+m, true
		}
		i += n + m
	}
	return start, end, found
}
