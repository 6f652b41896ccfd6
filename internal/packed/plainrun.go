package packed

// Plain runs: records that continue the one appended before them in every
// field but their payloads (the next sequence of its topic, the next
// number of its source, its timestamp, no field of their own), taken in
// one copy from where they already lie encoded as plain records, in a
// frame they came in, instead of one Append each.

// AppendPlainRun appends the records at the head of recs that are plain
// records on the last record's topic (each its length, a zero flags byte,
// that topic's index and its payload, every varint minimal, as
// appendPlain writes them), as many as the frame's limits allow, when
// recs is exactly k records. It returns how many records it took and how
// many bytes of recs they were: none when recs is not k records, its
// first is not such a record, or the last record appended is not one a
// plain record may follow.
//
// The caller vouches that the records continue the last one appended as
// plain records must (the next sequence and number, the same timestamp
// and source): their bytes do not say.
func (e *Encoder) AppendPlainRun(recs []byte, k int) (took, used int) {
	if k <= 0 || e.lastTopic == 0 {
		return 0, 0
	}
	t := &e.topics[e.lastTopic-1]
	if t.next == 0 { // unsequenced: a plain record after it has sequence 0
		return 0, 0
	}
	var s *encSource
	if e.lastSrc != 0 {
		if e.lastSrc != 1 { // a plain record names no source: source 0's
			return 0, 0
		}
		if s = &e.sources[0]; !s.numbered {
			return 0, 0
		}
	} else if !e.sourceless {
		return 0, 0
	}
	ti := uint64(e.lastTopic - 1)
	tiLen := uvarintLen(ti)
	if s != nil && s.next+uint64(k) > MaxNumber {
		return 0, 0 // the last would pass the last number: Append says why
	}
	room := e.lim.MaxFrameBytes - 41 - e.tableSize - len(e.recs) // 41: as appendPlain bounds the header
	// Copied first, what may fit, and checked after: the copy reads the
	// bytes in one stream, the check below then finds them in cache (a
	// check first took most of the time, each record's first byte read
	// on a line another core wrote), and what does not pass is cut off.
	before := len(e.recs)
	if room > 0 {
		e.recs = append(e.recs, recs[:min(len(recs), room)]...)
	}
	p, taking := 0, true
	for i := 0; i < k; i++ { // every record's length is read: recs must be k of them
		var body uint64
		var q int
		switch { // lengths of one and two bytes read here: nearly every record's
		case p < len(recs) && recs[p] < 0x80:
			body, q = uint64(recs[p]), p+1
		case p+1 < len(recs) && recs[p+1] < 0x80 && recs[p+1] != 0:
			body, q = uint64(recs[p]&0x7f)|uint64(recs[p+1])<<7, p+2
		default:
			body, q = readUvarint(recs, p)
		}
		if q < 0 || body < 2 || body > uint64(len(recs)-q) {
			p = -1 // not a record
			break
		}
		end := q + int(body)
		if taking {
			if tiLen == 1 {
				taking = recs[q] == 0 && uint64(recs[q+1]) == ti
			} else {
				x, r := readUvarint(recs, q+1)
				taking = recs[q] == 0 && r == q+1+tiLen && x == ti
			}
			if taking = taking && int(body)-1-tiLen <= e.lim.MaxPayloadBytes && end <= room && e.count+i < e.lim.MaxRecords; taking {
				took, used = i+1, end
			}
		}
		p = end
	}
	if p != len(recs) || took == 0 {
		e.recs = e.recs[:before]
		return 0, 0
	}
	e.recs = e.recs[:before+used]
	e.count += took
	t.next += uint64(took)
	if s != nil {
		s.next += uint64(took)
	}
	return took, used
}
