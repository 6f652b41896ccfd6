package state

import (
	"github.com/nexusd/nexusd/internal/chunks"
	"github.com/nexusd/nexusd/internal/packed"
)

// Plain runs. A run of local publishes makes its messages a slab at a
// time, numbered one after another on one topic, at one timestamp, and a
// stream of one topic's messages mostly hands them out in that order. A
// packed frame writes each such message after the one before as the same
// few bytes and its payload (docs/packed.md: a record with no field). So
// the slab keeps each payload as that record (packed.AppendPlainHeader,
// then the payload) and marks which messages continue the one before
// plainly; a shell encoding a frame copies a stretch of them as bytes
// (Message.PlainAfter, packed.Encoder.AppendPlainRecords) instead of
// reading and encoding each message.

// keepRecord copies payload p of message i of slab s as its plain record
// into the slab's data, and returns the payload's copy; a payload that
// does not fit there goes where keepPayload puts it, and has no record.
func (n *Node) keepRecord(s *msgSlab, i int, p []byte) []byte {
	if cap(s.data) == 0 {
		s.data = chunks.New(min(max(slabDataMin, runMsgsPerSlab*(len(p)+plainHeaderMax)), slabDataMax))
	}
	k := len(s.data)
	if cap(s.data)-k < len(p)+plainHeaderMax { // (slabDataMax keeps offsets within uint32)
		return n.keepPayload(nil, p)
	}
	s.data = packed.AppendPlainHeader(s.data, len(p))
	at := len(s.data)
	s.data = append(s.data, p...)
	s.recEnd[i] = uint32(len(s.data))
	s.recs = s.data
	if len(p) == 0 {
		return nil
	}
	return s.data[at:len(s.data):len(s.data)]
}

// plainHeaderMax is the most a plain record's header takes: a length of
// up to 5 bytes (payloads under 4 GiB), flags and topic index.
const plainHeaderMax = 7

// markPlain marks the messages of slab s, made by one run and numbered,
// that continue the one before plainly: the next sequence and id number,
// the same topic, source and timestamp, no optional field, both records
// kept.
func markPlain(s *msgSlab) {
	for i := 1; i < len(s.msgs); i++ {
		prev, m := &s.msgs[i-1], &s.msgs[i]
		if s.recEnd[i-1] != 0 && s.recEnd[i] != 0 && prev.Seq != 0 && m.Seq == prev.Seq+1 &&
			prev.IDNum != 0 && m.IDNum == prev.IDNum+1 && m.Extras == nil && !m.Retain &&
			m.TimestampMs == prev.TimestampMs && m.Topic == prev.Topic && m.Source == prev.Source {
			s.plain |= 1 << i
		}
	}
}

// PlainRun is the messages made after one message that continue it
// plainly (Message.PlainAfter), and their packed records.
type PlainRun struct {
	Msgs []Message // in the order they were made
	recs []byte    // their records, one after the other
	ends []uint32  // where each ends, as offsets into the slab's data
	base uint32    // where the first begins
}

// Records returns the records of the first k of r.Msgs, one after the
// other, each as packed.AppendPlainHeader and its payload wrote it: a
// length, no flags, topic index 0 (packed.Encoder.AppendPlainRecords sets
// the frame's).
func (r PlainRun) Records(k int) []byte {
	if k <= 0 {
		return nil
	}
	return r.recs[:r.ends[k-1]-r.base]
}

// PlainAfter returns the messages made after m that continue it plainly:
// each the next in sequence and id number on m's topic, from m's source,
// at m's timestamp, with no optional field; what a packed frame writes
// after m's record as a length, no flags, the topic index and the
// payload. Msgs is empty when none do. Like m, the run may be read from
// any goroutine and is valid while m is held; a shell reads only the
// messages it was handed.
func (m *Message) PlainAfter() PlainRun {
	s := m.slab
	if s == nil || s.plain == 0 {
		return PlainRun{}
	}
	i := 0
	for i < len(s.msgs) && &s.msgs[i] != m {
		i++
	}
	j := i + 1
	for j < len(s.msgs) && s.plain&(1<<j) != 0 {
		j++
	}
	if j == i+1 {
		return PlainRun{}
	}
	base := s.recEnd[i]
	return PlainRun{Msgs: s.msgs[i+1 : j], recs: s.recs[base:s.recEnd[j-1]], ends: s.recEnd[i+1 : j], base: base}
}
