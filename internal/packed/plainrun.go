package packed

// Plain runs as bytes. A run of messages that continue each other plainly
// (one topic, one source, the next sequence and number each, one
// timestamp, no optional field) is written as records that are all alike:
// length, flags 0, topic index, payload. A holder of such messages can keep
// each one's record already written (AppendPlainHeader, then the payload)
// and hand a run of them to an Encoder as bytes (AppendPlainRecords): one
// copy of the run, instead of a record built and checked per message.

// AppendPlainHeader appends the front of a plain record whose payload is
// payloadLen bytes: its length, flags 0, and topic index 0, which
// AppendPlainRecords sets to the frame's index of the run's topic. The
// payload follows it.
func AppendPlainHeader(dst []byte, payloadLen int) []byte {
	dst = appendUvarint(dst, uint64(2+payloadLen))
	return append(dst, 0, 0)
}

// AppendPlainRecords appends up to count records from recs, records as
// AppendPlainHeader and a payload write them, to the frame as the records
// that follow the last one appended: its topic and source, each the next
// sequence and number of their chains, its timestamp. The caller vouches
// for that; the Encoder cannot tell from the bytes. It stops early at a
// record the frame has no room for, one whose payload is over the frame's
// limit, or bytes that are not such a record, and reports how many it
// appended: 0 also when the last record's topic index or source index
// would need a field or more than one byte.
func (e *Encoder) AppendPlainRecords(recs []byte, count int) int {
	ti := e.lastTopic - 1
	if ti < 0 || ti >= 0x80 || count <= 0 {
		return 0
	}
	var s *encSource
	if !e.sourceless {
		if e.lastSrc != 1 || !e.sources[0].numbered { // only source 0 needs no index
			return 0
		}
		s = &e.sources[0]
	}
	t := &e.topics[ti]
	// Copied first, then read where they landed: the holder's bytes are
	// often another core's, and a walk over them would wait for each
	// record's line in turn, where a copy streams them.
	room := e.lim.MaxFrameBytes - 41 - e.tableSize - len(e.recs)
	at := len(e.recs)
	e.recs = append(e.recs, recs[:max(min(len(recs), room), 0)]...)
	run := e.recs[at:]
	k, end := 0, 0
	for k < count && e.count+k < e.lim.MaxRecords {
		body, p := readUvarint(run, end)
		if p < 0 || body < 2 || body-2 > uint64(e.lim.MaxPayloadBytes) || uint64(len(run)-p) < body ||
			run[p] != 0 || run[p+1] != 0 || s != nil && s.next+uint64(k) > MaxNumber {
			break
		}
		run[p+1] = byte(ti)
		end = p + int(body)
		k++
	}
	e.recs = e.recs[:at+end]
	if k == 0 {
		return 0
	}
	if t.next != 0 { // 0 stays 0: unnumbered runs are free
		t.next += uint64(k)
	}
	if s != nil {
		s.next += uint64(k)
	}
	e.count += k
	return k
}
