package packed

import (
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// Encoder builds one frame at a time. Append copies each record into a
// buffer the Encoder reuses after Reset, so in steady state it allocates
// nothing per record (nor per frame, once its tables have grown). The
// tables are written when the frame is taken (Frame, AppendFrame): topics
// and sources in the order records first used them, each base the first
// value its records needed, so a run of consecutive numbers, sequences and
// equal timestamps costs no field at all. It is not safe for concurrent
// use.
type Encoder struct {
	// Limits bounds the frame; zero fields take their DefaultLimits value.
	// Read at Reset and at the first Append of a frame.
	Limits Limits

	// StableStrings says the topics and sources of the records appended
	// are strings no one changes while the Encoder holds them (as Go
	// strings are; not views of memory the caller reuses): it keeps them
	// as they are instead of copying them, and a record of the same string
	// as the one before compares by address, not byte by byte. Read at
	// every Append.
	StableStrings bool

	lim        Limits
	recs, hdr  []byte
	count      int
	sourceless bool
	baseTs, ts uint64

	names     []byte // topic and source names, which the tables view
	topics    []encTopic
	topicIdx  map[string]int
	lastTopic int // index+1 of the previous record's topic; 0: none
	sources   []encSource
	lastSrc   int // index+1 of the previous record's source; 0: none
	tableSize int // bytes of both tables' entries, as written
}

type encTopic struct {
	name       string
	base, next uint64
}

type encSource struct {
	id         string
	epoch      uint64
	base, next uint64
	numbered   bool // base is set: a record with a derived id came
}

// Reset empties the frame, keeping every buffer.
func (e *Encoder) Reset() {
	e.recs, e.hdr, e.names = e.recs[:0], e.hdr[:0], e.names[:0]
	e.count, e.sourceless, e.baseTs, e.ts = 0, false, 0, 0
	clear(e.topics) // they may hold the caller's strings (StableStrings)
	clear(e.sources)
	e.topics, e.sources = e.topics[:0], e.sources[:0]
	clear(e.topicIdx)
	e.lastTopic, e.lastSrc, e.tableSize = 0, 0, 0
}

// Count is the number of records appended since Reset.
func (e *Encoder) Count() int { return e.count }

// Size is the length in bytes the frame has now.
func (e *Encoder) Size() int { return e.headerSize(e.count) + len(e.recs) }

// Frame returns the frame as its header and its records, to be sent one
// after the other (a gRPC codec or writev needs no copy). Both are valid
// until the next Append or Reset.
func (e *Encoder) Frame() (header, records []byte) {
	h := append(e.hdr[:0], Version)
	h = appendUvarint(h, uint64(e.count))
	h = appendUvarint(h, zigzag(e.baseTs))
	h = appendUvarint(h, uint64(len(e.sources)))
	for _, s := range e.sources {
		h = appendUvarint(h, uint64(len(s.id)))
		h = append(h, s.id...)
		h = appendUvarint(h, s.epoch)
		h = appendUvarint(h, s.base)
	}
	h = appendUvarint(h, uint64(len(e.topics)))
	for _, t := range e.topics {
		h = appendUvarint(h, uint64(len(t.name)))
		h = append(h, t.name...)
		h = appendUvarint(h, t.base)
	}
	e.hdr = h
	return h, e.recs
}

// UseRecords makes buf, emptied, the buffer the next records go into, the
// one Frame's records are in while it has room. Reset keeps it, so a
// caller that hands a frame's records buffer on (vtcodec.EncodeNestedTail)
// gives the encoder another, or nil, before the next Append.
func (e *Encoder) UseRecords(buf []byte) { e.recs = buf[:0] }

// Records is the frame's records as Frame returns them, without building
// its header.
func (e *Encoder) Records() []byte { return e.recs }

// AppendHeader appends the frame's header alone: what goes before its
// records (Frame).
func (e *Encoder) AppendHeader(dst []byte) []byte {
	h, _ := e.Frame()
	return append(dst, h...)
}

// AppendFrame appends the whole frame to dst.
func (e *Encoder) AppendFrame(dst []byte) []byte {
	h, r := e.Frame()
	return append(append(dst, h...), r...)
}

func (e *Encoder) headerSize(count int) int {
	return 1 + uvarintLen(uint64(count)) + uvarintLen(zigzag(e.baseTs)) +
		uvarintLen(uint64(len(e.sources))) + uvarintLen(uint64(len(e.topics))) + e.tableSize
}

func sourceSize(s *encSource) int {
	return uvarintLen(uint64(len(s.id))) + len(s.id) + uvarintLen(s.epoch) + uvarintLen(s.base)
}

func topicSize(t *encTopic) int {
	return uvarintLen(uint64(len(t.name))) + len(t.name) + uvarintLen(t.base)
}

// checkName refuses a topic or source id no table can hold; it runs when
// the name first enters a frame's table.
func checkName(s, what string, max int) error {
	if len(s) > max {
		return recordError("%s is %d bytes: the limit is %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return recordError("%s %q is not valid UTF-8", what, s)
	}
	return nil
}

// check refuses a record no frame can hold (but for its topic and source,
// which checkName checks when they are new to the frame).
func (e *Encoder) check(r *Record) error {
	l := &e.lim
	str := func(s, what string, max int) error {
		if len(s) > max {
			return recordError("%s is %d bytes: the limit is %d", what, len(s), max)
		}
		if !utf8.ValidString(s) {
			return recordError("%s %q is not valid UTF-8", what, s)
		}
		return nil
	}
	switch {
	case r.Topic == "":
		return recordError("empty topic")
	case len(r.Payload) > l.MaxPayloadBytes:
		return recordError("payload is %d bytes: the limit is %d", len(r.Payload), l.MaxPayloadBytes)
	case r.TTLMs < 0:
		return recordError("ttl %d ms is negative", r.TTLMs)
	case r.Seq == 0 && r.PrevSeq != 0:
		return recordError("previous sequence %d on a record without a sequence", r.PrevSeq)
	case r.Seq != 0 && r.PrevSeq >= r.Seq:
		return recordError("previous sequence %d is not below the sequence %d", r.PrevSeq, r.Seq)
	case r.DroppedFrom > r.PrevSeq:
		return recordError("dropped_from %d is above the previous sequence %d", r.DroppedFrom, r.PrevSeq)
	case r.Source == "" && (r.Epoch != 0 || r.Number != 0):
		return recordError("epoch %d, number %d without a source", r.Epoch, r.Number)
	case r.Source != "" && r.ID != "" && r.Number != 0:
		return recordError("number %d with an explicit id %q: a record has one or the other", r.Number, r.ID)
	case r.Source != "" && r.ID == "" && (r.Number == 0 || r.Number > MaxNumber):
		return recordError("number %d is outside 1..%d: a source past it moves to a new epoch", r.Number, uint64(MaxNumber))
	}
	if r.ContentType != "" {
		if err := str(r.ContentType, "content type", l.MaxContentTypeBytes); err != nil {
			return err
		}
	}
	if r.Correlation != "" {
		if err := str(r.Correlation, "correlation id", l.MaxCorrelationBytes); err != nil {
			return err
		}
	}
	if r.ID != "" {
		if err := str(r.ID, "message id", l.MaxIDBytes); err != nil {
			return err
		}
	}
	if r.ReplyTo != "" {
		if err := str(r.ReplyTo, "reply_to", l.MaxTopicBytes); err != nil {
			return err
		}
	}
	if len(r.Groups) > l.MaxGroups {
		return recordError("%d queue groups: the limit is %d", len(r.Groups), l.MaxGroups)
	}
	for _, g := range r.Groups {
		if g == "" {
			return recordError("empty queue group name")
		}
		if err := str(g, "queue group", l.MaxGroupBytes); err != nil {
			return err
		}
	}
	return nil
}

// Append adds r to the frame. It returns an error wrapping ErrFrameFull
// when r does not fit this frame but would fit an empty one, and another
// error when no frame can hold r; either way the frame is unchanged.
// TopicIndex and SourceIndex of r are ignored. Append keeps no reference
// to r or its fields.
func (e *Encoder) Append(r *Record) error {
	if e.appendPlain(r) {
		return nil
	}
	if e.count == 0 {
		e.lim = e.Limits.withDefaults()
	}
	if err := e.check(r); err != nil {
		return err
	}
	full := func(format string, args ...any) error {
		if e.count == 0 {
			return recordError(format, args...)
		}
		return fmt.Errorf("%w: "+format, append([]any{ErrFrameFull}, args...)...)
	}
	if e.count >= e.lim.MaxRecords {
		return full("the frame holds its limit of %d records", e.lim.MaxRecords)
	}

	// Find the record's table entries, or what adding them would cost.
	ti := e.lastTopic - 1
	if ti < 0 || e.topics[ti].name != r.Topic {
		var ok bool
		if ti, ok = e.topicIdx[r.Topic]; !ok {
			ti = -1
		}
	}
	si, newSources := -1, 0
	if r.Source == "" {
		if e.count > 0 && !e.sourceless {
			return full("a record without a source in a frame with a source table")
		}
	} else {
		if e.sourceless {
			return full("a record with a source in a frame without a source table")
		}
		si = e.lastSrc - 1
		if si < 0 || e.sources[si].id != r.Source || e.sources[si].epoch != r.Epoch {
			si = -1
			for i := range e.sources {
				if s := &e.sources[i]; s.id == r.Source && s.epoch == r.Epoch {
					si = i
					break
				}
			}
		}
		if si < 0 {
			newSources = 1
		}
	}
	if ti < 0 {
		if err := checkName(r.Topic, "topic", e.lim.MaxTopicBytes); err != nil {
			return err
		}
	}
	if newSources > 0 {
		if err := checkName(r.Source, "source node id", e.lim.MaxSourceIDBytes); err != nil {
			return err
		}
	}
	if ti < 0 && len(e.topics) >= e.lim.MaxTopics {
		return full("the topic table holds its limit of %d topics", e.lim.MaxTopics)
	}
	if newSources > 0 && len(e.sources) >= e.lim.MaxSources {
		return full("the source table holds its limit of %d sources", e.lim.MaxSources)
	}

	// The chains' expected values, as a reader will compute them.
	ts := uint64(r.TimestampMs)
	if e.count == 0 {
		e.baseTs, e.ts = ts, ts
	}
	var flags, seqDelta, numDelta uint64
	tableGrowth := 0
	if ti < 0 {
		t := encTopic{name: r.Topic, base: r.Seq}
		tableGrowth += topicSize(&t)
	} else if d := r.Seq - e.topics[ti].next; d != 0 {
		flags |= flagSeq
		seqDelta = zigzag(d)
	}
	derived := r.Source != "" && r.ID == ""
	if derived {
		switch {
		case si < 0:
			s := encSource{id: r.Source, epoch: r.Epoch, base: r.Number}
			tableGrowth += sourceSize(&s)
		case !e.sources[si].numbered:
			// the base is set now: the entry grows by the base's varint
			tableGrowth += uvarintLen(r.Number) - uvarintLen(0)
		default:
			if d := r.Number - e.sources[si].next; d != 0 {
				flags |= flagNumber
				numDelta = zigzag(d)
			}
		}
	} else if si < 0 && r.Source != "" {
		s := encSource{id: r.Source, epoch: r.Epoch}
		tableGrowth += sourceSize(&s)
	}
	if ts != e.ts {
		flags |= flagTimestamp
	}
	srcIndex := si
	if si < 0 {
		srcIndex = len(e.sources)
	}
	if r.Source != "" && srcIndex != 0 {
		flags |= flagSource
	}
	if r.Retain {
		flags |= flagRetain
	}
	if r.ContentType != "" {
		flags |= flagContentType
	}
	if r.Correlation != "" {
		flags |= flagCorrelation
	}
	if r.TTLMs != 0 {
		flags |= flagTTL
	}
	defPrev := uint64(0)
	if r.Seq > 0 {
		defPrev = r.Seq - 1
	}
	if r.PrevSeq != defPrev {
		flags |= flagPrev
	}
	if r.ID != "" {
		flags |= flagID
	}
	if r.DroppedFrom != 0 {
		flags |= flagDroppedFrom
	}
	if r.SyncOnly {
		flags |= flagSyncOnly
	}
	if r.ReplyTo != "" {
		flags |= flagReplyTo
	}
	if len(r.Groups) > 0 {
		flags |= flagGroups
	}
	topicIndex := ti
	if ti < 0 {
		topicIndex = len(e.topics)
	}

	// The record's size, and the frame's with it.
	body := uvarintLen(flags) + uvarintLen(uint64(topicIndex)) + len(r.Payload)
	if flags != 0 {
		if flags&flagTimestamp != 0 {
			body += uvarintLen(zigzag(ts - e.ts))
		}
		if flags&flagSeq != 0 {
			body += uvarintLen(seqDelta)
		}
		if flags&flagNumber != 0 {
			body += uvarintLen(numDelta)
		}
		if flags&flagSource != 0 {
			body += uvarintLen(uint64(srcIndex))
		}
		strLen := func(s string) int { return uvarintLen(uint64(len(s))) + len(s) }
		if flags&flagContentType != 0 {
			body += strLen(r.ContentType)
		}
		if flags&flagCorrelation != 0 {
			body += strLen(r.Correlation)
		}
		if flags&flagTTL != 0 {
			body += uvarintLen(uint64(r.TTLMs))
		}
		if flags&flagPrev != 0 {
			body += uvarintLen(r.PrevSeq)
		}
		if flags&flagID != 0 {
			body += strLen(r.ID)
		}
		if flags&flagDroppedFrom != 0 {
			body += uvarintLen(r.DroppedFrom)
		}
		if flags&flagReplyTo != 0 {
			body += strLen(r.ReplyTo)
		}
		if flags&flagGroups != 0 {
			body += uvarintLen(uint64(len(r.Groups)))
			for _, g := range r.Groups {
				body += strLen(g)
			}
		}
	}
	recLen := uvarintLen(uint64(body)) + body
	// The header's fixed fields (version, four varints) take at most 41
	// bytes: count exactly only near the limit.
	if size := 41 + e.tableSize + tableGrowth + len(e.recs) + recLen; size > e.lim.MaxFrameBytes {
		hdr := e.headerSize(e.count+1) + tableGrowth
		if ti < 0 {
			hdr += uvarintLen(uint64(len(e.topics)+1)) - uvarintLen(uint64(len(e.topics)))
		}
		if newSources > 0 {
			hdr += uvarintLen(uint64(len(e.sources)+1)) - uvarintLen(uint64(len(e.sources)))
		}
		if size := hdr + len(e.recs) + recLen; size > e.lim.MaxFrameBytes {
			return full("the frame would be %d bytes: the limit is %d", size, e.lim.MaxFrameBytes)
		}
	}

	// Commit: nothing below fails.
	if e.count == 0 && r.Source == "" {
		e.sourceless = true
	}
	if ti < 0 {
		ti = len(e.topics)
		e.topics = append(e.topics, encTopic{name: e.keep(r.Topic), base: r.Seq})
		e.tableSize += topicSize(&e.topics[ti])
		if e.topicIdx == nil {
			e.topicIdx = make(map[string]int)
		}
		e.topicIdx[e.topics[ti].name] = ti
	}
	e.lastTopic = ti + 1
	if r.Source != "" {
		if si < 0 {
			si = len(e.sources)
			e.sources = append(e.sources, encSource{id: e.keep(r.Source), epoch: r.Epoch})
			e.tableSize += sourceSize(&e.sources[si])
		}
		e.lastSrc = si + 1
		if s := &e.sources[si]; derived {
			if !s.numbered {
				e.tableSize -= sourceSize(s)
				s.base, s.numbered = r.Number, true
				e.tableSize += sourceSize(s)
			}
			s.next = r.Number + 1
		}
	}
	t := &e.topics[ti]
	if r.Seq == 0 {
		t.next = 0
	} else {
		t.next = r.Seq + 1
	}

	b := appendUvarint(e.recs, uint64(body))
	b = appendUvarint(b, flags)
	b = appendUvarint(b, uint64(ti))
	if flags != 0 {
		if flags&flagTimestamp != 0 {
			b = appendUvarint(b, zigzag(ts-e.ts))
			e.ts = ts
		}
		if flags&flagSeq != 0 {
			b = appendUvarint(b, seqDelta)
		}
		if flags&flagNumber != 0 {
			b = appendUvarint(b, numDelta)
		}
		if flags&flagSource != 0 {
			b = appendUvarint(b, uint64(si))
		}
		if flags&flagContentType != 0 {
			b = appendUvarint(b, uint64(len(r.ContentType)))
			b = append(b, r.ContentType...)
		}
		if flags&flagCorrelation != 0 {
			b = appendUvarint(b, uint64(len(r.Correlation)))
			b = append(b, r.Correlation...)
		}
		if flags&flagTTL != 0 {
			b = appendUvarint(b, uint64(r.TTLMs))
		}
		if flags&flagPrev != 0 {
			b = appendUvarint(b, r.PrevSeq)
		}
		if flags&flagID != 0 {
			b = appendUvarint(b, uint64(len(r.ID)))
			b = append(b, r.ID...)
		}
		if flags&flagDroppedFrom != 0 {
			b = appendUvarint(b, r.DroppedFrom)
		}
		if flags&flagReplyTo != 0 {
			b = appendUvarint(b, uint64(len(r.ReplyTo)))
			b = append(b, r.ReplyTo...)
		}
		if flags&flagGroups != 0 {
			b = appendUvarint(b, uint64(len(r.Groups)))
			for _, g := range r.Groups {
				b = appendUvarint(b, uint64(len(g)))
				b = append(b, g...)
			}
		}
	}
	e.recs = append(b, r.Payload...)
	e.count++
	return nil
}

// appendPlain appends r if it is the record a run of messages is made
// of, the one that costs no field: the previous record's topic and
// source, the next sequence and number of their chains, the frame's
// current timestamp, no optional field, and room in the frame. It reports
// whether it did; Append does the rest, and judges what is wrong.
func (e *Encoder) appendPlain(r *Record) bool {
	if e.lastTopic == 0 || r.ContentType != "" || r.Correlation != "" || r.ID != "" || r.ReplyTo != "" ||
		len(r.Groups) > 0 || r.Retain || r.SyncOnly || r.TTLMs != 0 || r.DroppedFrom != 0 ||
		uint64(r.TimestampMs) != e.ts || e.count >= e.lim.MaxRecords || len(r.Payload) > e.lim.MaxPayloadBytes {
		return false
	}
	ti := e.lastTopic - 1
	t := &e.topics[ti]
	if r.Seq != t.next || r.Seq > 0 && r.PrevSeq != r.Seq-1 || r.Seq == 0 && r.PrevSeq != 0 || t.name != r.Topic {
		return false
	}
	var s *encSource
	if r.Source == "" {
		if !e.sourceless || r.Number != 0 || r.Epoch != 0 {
			return false // (a number without a source is Append's to refuse)
		}
	} else {
		if e.lastSrc != 1 { // only source 0 needs no index
			return false
		}
		s = &e.sources[0]
		if !s.numbered || r.Number != s.next || r.Number > MaxNumber || r.Epoch != s.epoch || s.id != r.Source {
			return false
		}
	}
	body := 1 + uvarintLen(uint64(ti)) + len(r.Payload)
	if 41+e.tableSize+len(e.recs)+uvarintLen(uint64(body))+body > e.lim.MaxFrameBytes {
		return false // maybe it fits: Append counts the header exactly
	}
	if r.Seq != 0 {
		t.next = r.Seq + 1
	}
	if s != nil {
		s.next = r.Number + 1
	}
	b := appendUvarint(e.recs, uint64(body))
	b = append(b, 0) // flags
	b = appendUvarint(b, uint64(ti))
	e.recs = append(b, r.Payload...)
	e.count++
	return true
}

// keep returns s as the Encoder keeps it: s itself with StableStrings,
// else a copy in the Encoder's name buffer, viewed. A view stays valid
// when the buffer grows (it keeps the old array, which nothing writes
// again) and is dropped at Reset, before the buffer is written over.
func (e *Encoder) keep(s string) string {
	if e.StableStrings {
		return s
	}
	start := len(e.names)
	e.names = append(e.names, s...)
	return unsafe.String(&e.names[start], len(s))
}
