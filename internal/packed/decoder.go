package packed

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Decoder reads frames. Reset validates a whole frame, header and every
// record, before the first record is handed out, so a frame is taken or
// refused whole; Next and Record then walk it without failing. Once its
// tables have grown to the largest frame seen, a Decoder does not
// allocate. It is not safe for concurrent use; reuse one per stream.
type Decoder struct {
	// Limits bounds the frames Reset accepts; zero fields take their
	// DefaultLimits value. Read at every Reset.
	Limits Limits

	lim      Limits
	frame    []byte
	count    int
	baseTs   uint64
	sources  []sourceEntry
	topics   []topicEntry
	recStart int

	// walk state, shared by the validation pass and Next
	pos, idx int
	ts       uint64
	rec      Record

	groups   []string // the current record's queue groups
	groupErr error

	seenTopics  map[string]struct{}
	seenSources map[sourceKey]struct{}
	memo        prefixMemo
}

type topicEntry struct {
	name       string
	base, next uint64
}

type sourceEntry struct {
	id         string
	epoch      uint64
	base, next uint64
	prefix     [10]byte
	head       [24]byte // the ids' first 24 characters: the prefix rendered
	havePrefix bool
	memo       *prefixMemo
}

type sourceKey struct {
	id    string
	epoch uint64
}

// derive is the id of number from this source, hashing (source, epoch)
// once per frame at most (and not at all when a recent frame had it).
func (s *sourceEntry) derive(number uint64) ID {
	s.fix()
	return IDFromPrefix(s.prefix, number)
}

// fix finds the source's id prefix and renders it, once.
func (s *sourceEntry) fix() {
	if !s.havePrefix {
		s.prefix = s.memo.get(s.id, s.epoch)
		var b [36]byte
		copy(s.head[:], IDFromPrefix(s.prefix, 0).AppendString(b[:0]))
		s.havePrefix = true
	}
}

// appendID appends the id of number from this source: the head rendered
// once, then the number's twelve digits.
func (s *sourceEntry) appendID(dst []byte, number uint64) []byte {
	s.fix()
	dst = append(dst, s.head[:]...)
	var d [12]byte
	for i := 5; i >= 0; i-- {
		h := hexPairs[byte(number)]
		d[2*i], d[2*i+1] = h[0], h[1]
		number >>= 8
	}
	return append(dst, d[:]...)
}

// hexPairs is every byte's two lowercase hex digits.
var hexPairs = func() (t [256][2]byte) {
	const hex = "0123456789abcdef"
	for i := range t {
		t[i] = [2]byte{hex[i>>4], hex[i&0xf]}
	}
	return t
}()

// prefixMemo remembers the id prefixes of the last few (source, epoch)
// pairs, across frames: a stream's frames name the same sources.
type prefixMemo struct {
	ents [4]struct {
		id     string
		epoch  uint64
		prefix [10]byte
	}
	next int
}

func (m *prefixMemo) get(id string, epoch uint64) [10]byte {
	for i := range m.ents {
		if e := &m.ents[i]; e.id == id && e.epoch == epoch && e.id != "" {
			return e.prefix
		}
	}
	e := &m.ents[m.next]
	m.next = (m.next + 1) % len(m.ents)
	e.id, e.epoch, e.prefix = strings.Clone(id), epoch, IDPrefix(id, epoch)
	return e.prefix
}

// Reset starts reading frame, and validates it whole: it returns an
// *Error naming the first thing wrong, and then Next returns false. The
// Decoder keeps frame, and its records alias it, until the next Reset.
func (d *Decoder) Reset(frame []byte) error {
	d.frame, d.count, d.idx = frame, 0, 0
	d.lim = d.Limits.withDefaults()
	if err := d.header(); err != nil {
		return d.refuse(err)
	}
	d.rewind()
	p := d.recStart
	for i := 0; i < d.count; i++ {
		if q := d.skim(p); q > 0 {
			p = q
			continue
		}
		var err error
		if p, err = d.parse(i, p); err != nil {
			return d.refuse(err)
		}
	}
	if p != len(d.frame) {
		return d.refuse(&Error{Record: -1, Offset: p, What: fmt.Sprintf("%d bytes after the last of %d records: the header's record count is wrong or the frame has trailing bytes", len(d.frame)-p, d.count)})
	}
	d.rewind()
	return nil
}

// refuse forgets a frame Reset found wrong, and returns err.
func (d *Decoder) refuse(err error) error {
	d.frame, d.count, d.topics, d.sources = nil, 0, d.topics[:0], d.sources[:0]
	d.rec = Record{}
	return err
}

// rewind sets the walk back to the first record.
func (d *Decoder) rewind() {
	d.pos, d.idx, d.ts = d.recStart, 0, d.baseTs
	for i := range d.topics {
		d.topics[i].next = d.topics[i].base
	}
	for i := range d.sources {
		d.sources[i].next = d.sources[i].base
	}
}

// Next moves to the next record, false after the last.
func (d *Decoder) Next() bool {
	if d.idx >= d.count {
		return false
	}
	if p := d.nextPlain(d.pos); p > 0 {
		d.pos = p
		d.idx++
		return true
	}
	p, err := d.parse(d.idx, d.pos)
	if err != nil { // Reset checked every record; cannot happen
		d.count = 0
		return false
	}
	d.pos = p
	d.idx++
	return true
}

// Record is the current record, valid until the next Next or Reset.
func (d *Decoder) Record() *Record { return &d.rec }

// Count is the number of records in the frame.
func (d *Decoder) Count() int { return d.count }

// BaseTimestampMs is the frame's base timestamp.
func (d *Decoder) BaseTimestampMs() int64 { return int64(d.baseTs) }

// Topics is the size of the frame's topic table.
func (d *Decoder) Topics() int { return len(d.topics) }

// Topic is entry i of the topic table (a view into the frame).
func (d *Decoder) Topic(i int) string { return d.topics[i].name }

// Sources is the size of the frame's source table.
func (d *Decoder) Sources() int { return len(d.sources) }

// Source is entry i of the source table (a view into the frame).
func (d *Decoder) Source(i int) (id string, epoch uint64) {
	return d.sources[i].id, d.sources[i].epoch
}

// Tables returns the frame's topic and source tables, each name passed
// through own (which returns a string the caller may keep, an interned
// copy, say), appended to topics[:0] and srcs[:0]: a record's TopicIndex
// and SourceIndex index them.
func (d *Decoder) Tables(own func(string) string, topics, srcs []string) ([]string, []string) {
	topics, srcs = topics[:0], srcs[:0]
	for _, t := range d.topics {
		topics = append(topics, own(t.name))
	}
	for _, s := range d.sources {
		srcs = append(srcs, own(s.id))
	}
	return topics, srcs
}

func (d *Decoder) header() error {
	b, lim := d.frame, d.lim
	fail := func(p int, limit bool, format string, args ...any) error {
		return &Error{Record: -1, Offset: p, Limit: limit, What: fmt.Sprintf(format, args...)}
	}
	// name is the field's name for an error: what, or entry i's what.
	name := func(entry string, i int, what string) string {
		switch {
		case entry == "":
			return what
		case what == "":
			return fmt.Sprintf("%s %d", entry, i)
		}
		return fmt.Sprintf("%s %d %s", entry, i, what)
	}
	uv := func(p int, entry string, i int, what string) (uint64, int, error) {
		v, q := readUvarint(b, p)
		if q < 0 {
			return 0, 0, fail(p, false, "%s: %s", name(entry, i, what), varintProblem(q))
		}
		return v, q, nil
	}
	str := func(p int, max int, entry string, i int, what string) (string, int, error) {
		n, q := readUvarint(b, p)
		if q < 0 {
			return "", 0, fail(p, false, "%s length: %s", name(entry, i, what), varintProblem(q))
		}
		switch {
		case n > uint64(len(b)-q):
			return "", 0, fail(p, false, "%s of %d bytes runs past the end of the frame", name(entry, i, what), n)
		case n == 0:
			return "", 0, fail(p, false, "%s is empty", name(entry, i, what))
		case n > uint64(max):
			return "", 0, fail(p, true, "%s is %d bytes: the limit is %d", name(entry, i, what), n, max)
		}
		s := unsafe.String(&b[q], int(n))
		if !utf8.ValidString(s) {
			return "", 0, fail(q, false, "%s %q is not valid UTF-8", name(entry, i, what), s)
		}
		return s, q + int(n), nil
	}

	if len(b) > lim.MaxFrameBytes {
		return fail(0, true, "frame is %d bytes: the limit is %d", len(b), lim.MaxFrameBytes)
	}
	if len(b) == 0 {
		return fail(0, false, "empty frame: a frame starts with its version byte")
	}
	if b[0] != Version {
		return fail(0, false, "version %d: this reader knows version %d only", b[0], Version)
	}
	count, p, err := uv(1, "", 0, "record count")
	if err != nil {
		return err
	}
	if count > uint64(lim.MaxRecords) {
		return fail(1, true, "%d records: the limit is %d", count, lim.MaxRecords)
	}
	zts, p, err := uv(p, "", 0, "base timestamp")
	if err != nil {
		return err
	}
	d.baseTs = unzigzag(zts)

	// tableSize reads the entry count of a table at p; an entry of the
	// table takes at least minEntryBytes.
	tableSize := func(p int, what, countName string, max, minEntryBytes int) (uint64, int, error) {
		n, q, err := uv(p, "", 0, countName)
		switch {
		case err != nil:
			return 0, 0, err
		case n > uint64(max):
			return 0, 0, fail(p, true, "%d %ss: the limit is %d", n, what, max)
		case n > uint64((len(b)-q)/minEntryBytes):
			return 0, 0, fail(p, false, "%d %ss cannot fit in the %d bytes left", n, what, len(b)-q)
		}
		return n, q, nil
	}

	nsrc, p, err := tableSize(p, "source", "source count", lim.MaxSources, 3)
	if err != nil {
		return err
	}
	d.sources = d.sources[:0]
	for i := 0; i < int(nsrc); i++ {
		var s sourceEntry
		if s.id, p, err = str(p, lim.MaxSourceIDBytes, "source", i, "node id"); err != nil {
			return err
		}
		if s.epoch, p, err = uv(p, "source", i, "epoch"); err != nil {
			return err
		}
		if s.base, p, err = uv(p, "source", i, "base number"); err != nil {
			return err
		}
		s.memo = &d.memo
		d.sources = append(d.sources, s)
	}

	at := p
	ntop, p, err := tableSize(p, "topic", "topic count", lim.MaxTopics, 2)
	if err != nil {
		return err
	}
	d.topics = d.topics[:0]
	for i := 0; i < int(ntop); i++ {
		var t topicEntry
		if t.name, p, err = str(p, lim.MaxTopicBytes, "topic", i, ""); err != nil {
			return err
		}
		if t.base, p, err = uv(p, "topic", i, "base sequence"); err != nil {
			return err
		}
		d.topics = append(d.topics, t)
	}
	if err := d.unique(at); err != nil {
		return err
	}
	if count > uint64(len(b)-p)/3 { // a record is at least 3 bytes
		return fail(p, false, "%d records cannot fit in the %d bytes left", count, len(b)-p)
	}
	if count > 0 && len(d.topics) == 0 {
		return fail(at, false, "%d records and an empty topic table", count)
	}
	d.count, d.recStart = int(count), p
	return nil
}

// unique refuses a table that names one topic, or one (source, epoch),
// twice: an index is the only name of its entry in a frame.
func (d *Decoder) unique(at int) error {
	dup := func(what string) error {
		return &Error{Record: -1, Offset: at, What: what + " appears twice in its table"}
	}
	if len(d.topics) <= 16 {
		for i := range d.topics {
			for j := range i {
				if d.topics[i].name == d.topics[j].name {
					return dup(fmt.Sprintf("topic %q", d.topics[i].name))
				}
			}
		}
	} else {
		if d.seenTopics == nil {
			d.seenTopics = map[string]struct{}{}
		}
		defer clear(d.seenTopics)
		for _, t := range d.topics {
			if _, ok := d.seenTopics[t.name]; ok {
				return dup(fmt.Sprintf("topic %q", t.name))
			}
			d.seenTopics[t.name] = struct{}{}
		}
	}
	if len(d.sources) <= 16 {
		for i := range d.sources {
			for j := range i {
				if d.sources[i].id == d.sources[j].id && d.sources[i].epoch == d.sources[j].epoch {
					return dup(fmt.Sprintf("source %q epoch %d", d.sources[i].id, d.sources[i].epoch))
				}
			}
		}
	} else {
		if d.seenSources == nil {
			d.seenSources = map[sourceKey]struct{}{}
		}
		defer clear(d.seenSources)
		for _, s := range d.sources {
			k := sourceKey{s.id, s.epoch}
			if _, ok := d.seenSources[k]; ok {
				return dup(fmt.Sprintf("source %q epoch %d", s.id, s.epoch))
			}
			d.seenSources[k] = struct{}{}
		}
	}
	return nil
}

// skim validates the plainest record at p, the one a run of messages is
// made of: a length of one or two bytes, no flags, a one-byte topic
// index, its sequence and number the chains' next. It advances the chains
// as parse would and returns the position after the record, or 0 when the
// record is any other (parse then reads it, and names what is wrong).
func (d *Decoder) skim(p int) int {
	b := d.frame
	if p+3 > len(b) { // the shortest record: length 2, flags, topic index
		return 0
	}
	blen := int(b[p])
	p++
	if blen >= 0x80 {
		if b[p] == 0 || b[p] >= 0x80 { // not minimal, or over two bytes
			return 0
		}
		blen = blen&0x7f | int(b[p])<<7
		p++
	}
	end := p + blen
	if blen < 2 || end > len(b) || b[p] != 0 || blen-2 > d.lim.MaxPayloadBytes {
		return 0
	}
	if ti := int(b[p+1]); ti >= 0x80 || ti >= len(d.topics) {
		return 0
	}
	if len(d.sources) > 0 {
		s := &d.sources[0]
		if s.next == 0 || s.next >= MaxNumber {
			return 0 // a number at either end of 1..MaxNumber is parse's to judge
		}
		s.next++
	}
	if t := &d.topics[b[p+1]]; t.next != 0 {
		t.next++
	}
	return end
}

// nextPlain reads the record at p into d.rec as parse would, when it is
// the plainest (skim's: nearly every record of a run) and continues a
// record that had no field of its own either; it returns the position
// after it, or 0 when parse has to read it.
func (d *Decoder) nextPlain(p int) int {
	b, r := d.frame, &d.rec
	if p+3 > len(b) || b[p] >= 0x80 && (b[p+1] == 0 || b[p+1] >= 0x80) {
		return 0
	}
	blen := int(b[p])
	p++
	if blen >= 0x80 {
		blen = blen&0x7f | int(b[p])<<7
		p++
	}
	end := p + blen
	if blen < 2 || end > len(b) || b[p] != 0 || b[p+1] >= 0x80 || int(b[p+1]) >= len(d.topics) ||
		r.ContentType != "" || r.Correlation != "" || r.ID != "" || r.TTLMs != 0 || r.Retain || r.SyncOnly || r.ReplyTo != "" || r.Groups != nil {
		return 0
	}
	var s *sourceEntry
	if len(d.sources) > 0 {
		if s = &d.sources[0]; s.next == 0 || s.next > MaxNumber {
			return 0
		}
	}
	ti := int(b[p+1])
	t := &d.topics[ti]
	r.Topic, r.TopicIndex = t.name, ti
	r.Payload = b[p+2 : end : end]
	r.TimestampMs = int64(d.ts)
	r.Seq, r.PrevSeq, r.DroppedFrom = t.next, 0, 0
	if t.next != 0 {
		r.PrevSeq = t.next - 1
		t.next++
	}
	if s == nil {
		r.Source, r.Epoch, r.Number, r.SourceIndex, r.src = "", 0, 0, -1, nil
		return end
	}
	r.Source, r.Epoch, r.Number, r.SourceIndex, r.src = s.id, s.epoch, s.next, 0, s
	s.next++
	return end
}

// parse reads record i at p into d.rec, advancing the walk's chains, and
// returns the position after it.
func (d *Decoder) parse(i, p int) (int, error) {
	b := d.frame
	var blen uint64
	if p < len(b) && b[p] < 0x80 {
		blen, p = uint64(b[p]), p+1
	} else {
		q := 0
		if blen, q = readUvarint(b, p); q < 0 {
			return d.fail(i, p, false, "record length: %s", varintProblem(q))
		}
		p = q
	}
	if blen < 2 {
		return d.fail(i, p, false, "record length %d: a record holds at least its flags and topic index", blen)
	}
	if blen > uint64(len(b)-p) {
		return d.fail(i, p, false, "record of %d bytes runs past the end of the frame (%d bytes left)", blen, len(b)-p)
	}
	end := p + int(blen)
	b = b[:end] // every read below stays inside the record

	// flags and topic index, one byte each but in odd records
	var flags, ti uint64
	if c := b[p]; c < 0x80 {
		flags, p = uint64(c), p+1
	} else {
		q := 0
		if flags, q = readUvarint(b, p); q < 0 {
			return d.fail(i, p, false, "flags: %s", varintProblem(q))
		}
		if flags&^flagsKnown != 0 {
			return d.fail(i, p, false, "unknown flag bits %#x: the frame is newer than this reader, or corrupt", flags&^flagsKnown)
		}
		p = q
	}
	if p < end && b[p] < 0x80 {
		ti, p = uint64(b[p]), p+1
	} else {
		q := 0
		if ti, q = readUvarint(b, p); q < 0 {
			return d.fail(i, p, false, "topic index: %s", varintProblem(q))
		}
		p = q
	}
	if ti >= uint64(len(d.topics)) {
		return d.fail(i, p, false, "topic index %d is out of range: the topic table has %d entries", ti, len(d.topics))
	}
	t := &d.topics[ti]
	r := &d.rec
	r.Topic, r.TopicIndex = t.name, int(ti)

	var o optional
	if flags != 0 {
		var err error
		if p, err = d.optional(i, flags, b, p, &o); err != nil {
			return 0, err
		}
		d.ts += o.tsDelta
		r.ContentType, r.Correlation, r.ID, r.TTLMs = o.contentType, o.correlation, o.id, o.ttl
		r.Retain, r.SyncOnly = flags&flagRetain != 0, flags&flagSyncOnly != 0
		r.ReplyTo, r.Groups = o.replyTo, nil
		if o.groups {
			r.Groups = d.groups
		}
	} else if r.ContentType != "" || r.Correlation != "" || r.ID != "" || r.TTLMs != 0 || r.Retain || r.SyncOnly || r.ReplyTo != "" || r.Groups != nil {
		r.ContentType, r.Correlation, r.ID, r.TTLMs, r.Retain, r.SyncOnly = "", "", "", 0, false, false
		r.ReplyTo, r.Groups = "", nil
	}
	r.Payload = b[p:end:end]
	if end-p > d.lim.MaxPayloadBytes {
		return d.fail(i, p, true, "payload is %d bytes: the limit is %d", end-p, d.lim.MaxPayloadBytes)
	}
	r.TimestampMs = int64(d.ts)

	seq := t.next + o.seqDelta
	r.Seq = seq
	if seq == 0 {
		t.next = 0
	} else {
		t.next = seq + 1
	}
	switch {
	case flags&flagPrev == 0:
		r.PrevSeq = 0
		if seq > 0 {
			r.PrevSeq = seq - 1
		}
	case o.prev >= seq && seq > 0:
		return d.fail(i, p, false, "previous sequence %d is not below the record's sequence %d", o.prev, seq)
	case o.prev != 0 && seq == 0:
		return d.fail(i, p, false, "previous sequence %d on a record without a sequence", o.prev)
	default:
		r.PrevSeq = o.prev
	}
	if o.dropped > r.PrevSeq {
		return d.fail(i, p, false, "dropped_from %d is above the previous sequence %d", o.dropped, r.PrevSeq)
	}
	r.DroppedFrom = o.dropped

	r.Source, r.Epoch, r.Number, r.SourceIndex, r.src = "", 0, 0, -1, nil
	if len(d.sources) == 0 {
		if flags&(flagSource|flagNumber) != 0 {
			return d.fail(i, p, false, "a source index or number delta in a frame without a source table")
		}
		return end, nil
	}
	s := &d.sources[o.source]
	r.Source, r.Epoch, r.SourceIndex, r.src = s.id, s.epoch, int(o.source), s
	if r.ID != "" {
		if flags&flagNumber != 0 {
			return d.fail(i, p, false, "a number delta on a record with an explicit message id")
		}
		return end, nil
	}
	n := s.next + o.numDelta
	if n == 0 || n > MaxNumber {
		return d.fail(i, p, false, "number %d is outside 1..%d: a source past it moves to a new epoch", n, uint64(MaxNumber))
	}
	r.Number = n
	s.next = n + 1
	return end, nil
}

func (d *Decoder) fail(i, at int, limit bool, format string, args ...any) (int, error) {
	return 0, &Error{Record: i, Offset: at, Limit: limit, What: fmt.Sprintf(format, args...)}
}

// optional is what a record's flags add to it.
type optional struct {
	tsDelta, seqDelta, numDelta, source uint64
	ttl                                 int64
	prev, dropped                       uint64
	contentType, correlation, id        string
	replyTo                             string
	groups                              bool // read into the Decoder's groups
}

// optional reads the fields flags announce, in bit order, from b at p.
func (d *Decoder) optional(i int, flags uint64, b []byte, p int, o *optional) (int, error) {
	var v uint64
	var q int
	for _, f := range [...]struct {
		bit  uint64
		what string
	}{
		{flagTimestamp, "timestamp delta"}, {flagSeq, "sequence delta"}, {flagNumber, "number delta"},
		{flagSource, "source index"}, {flagContentType, "content type"}, {flagCorrelation, "correlation id"},
		{flagTTL, "ttl"}, {flagPrev, "previous sequence"}, {flagID, "message id"}, {flagDroppedFrom, "dropped_from"},
		{flagReplyTo, "reply_to"}, {flagGroups, "queue groups"},
	} {
		if flags&f.bit == 0 {
			continue
		}
		at := p
		if v, q = readUvarint(b, p); q < 0 {
			return d.fail(i, p, false, "%s: %s", f.what, varintProblem(q))
		}
		p = q
		switch f.bit {
		case flagTimestamp:
			o.tsDelta = unzigzag(v)
		case flagSeq:
			o.seqDelta = unzigzag(v)
		case flagNumber:
			o.numDelta = unzigzag(v)
		case flagSource:
			if v >= uint64(len(d.sources)) {
				return d.fail(i, at, false, "source index %d is out of range: the source table has %d entries", v, len(d.sources))
			}
			o.source = v
		case flagTTL:
			if v > math.MaxInt64 {
				return d.fail(i, at, false, "ttl %d ms does not fit a signed 64-bit integer", v)
			}
			o.ttl = int64(v)
		case flagPrev:
			o.prev = v
		case flagDroppedFrom:
			o.dropped = v
		case flagGroups:
			if p, q = d.readGroups(i, at, v, b, p); q < 0 {
				return 0, d.groupErr
			}
			o.groups = true
		default: // a string of v bytes
			max := d.lim.MaxContentTypeBytes
			switch f.bit {
			case flagCorrelation:
				max = d.lim.MaxCorrelationBytes
			case flagID:
				max = d.lim.MaxIDBytes
			case flagReplyTo:
				max = d.lim.MaxTopicBytes
			}
			switch {
			case v > uint64(len(b)-p):
				return d.fail(i, at, false, "%s of %d bytes runs past the end of the record", f.what, v)
			case v > uint64(max):
				return d.fail(i, at, true, "%s is %d bytes: the limit is %d", f.what, v, max)
			case v == 0 && f.bit == flagID:
				return d.fail(i, at, false, "explicit message id is empty: leave the flag off for a derived id")
			case v == 0 && f.bit == flagReplyTo:
				return d.fail(i, at, false, "reply_to is empty: leave the flag off when there is none")
			case v == 0:
				continue
			}
			s := unsafe.String(&b[p], int(v))
			if !utf8.ValidString(s) {
				return d.fail(i, p, false, "%s %q is not valid UTF-8", f.what, s)
			}
			p += int(v)
			switch f.bit {
			case flagContentType:
				o.contentType = s
			case flagCorrelation:
				o.correlation = s
			case flagReplyTo:
				o.replyTo = s
			default:
				o.id = s
			}
		}
	}
	return p, nil
}

// readGroups reads count queue group names from b at p into d.groups. On
// a fault it returns q < 0 and leaves the error in d.groupErr.
func (d *Decoder) readGroups(i, at int, count uint64, b []byte, p int) (int, int) {
	d.groups = d.groups[:0]
	fail := func(at int, limit bool, format string, args ...any) (int, int) {
		_, d.groupErr = d.fail(i, at, limit, format, args...)
		return 0, -1
	}
	switch {
	case count == 0:
		return fail(at, false, "queue groups: a count of 0: leave the flag off when there are none")
	case count > uint64(d.lim.MaxGroups):
		return fail(at, true, "%d queue groups: the limit is %d", count, d.lim.MaxGroups)
	}
	for range count {
		at := p
		v, q := readUvarint(b, p)
		if q < 0 {
			return fail(p, false, "queue group: %s", varintProblem(q))
		}
		p = q
		switch {
		case v > uint64(len(b)-p):
			return fail(at, false, "queue group of %d bytes runs past the end of the record", v)
		case v > uint64(d.lim.MaxGroupBytes):
			return fail(at, true, "queue group is %d bytes: the limit is %d", v, d.lim.MaxGroupBytes)
		case v == 0:
			return fail(at, false, "queue group name is empty")
		}
		s := unsafe.String(&b[p], int(v))
		if !utf8.ValidString(s) {
			return fail(p, false, "queue group %q is not valid UTF-8", s)
		}
		d.groups = append(d.groups, s)
		p += int(v)
	}
	return p, p
}
