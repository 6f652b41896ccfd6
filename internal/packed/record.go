package packed

// Record is one message of a frame: what an Encoder appends and what a
// Decoder yields. Which fields an RPC uses is its business (docs/packed.md):
// a PublishPacked record has no source, number, sequence or timestamp; a
// PushPacked record has them all.
//
// A Record from a Decoder is a view: Topic, Source, ID, ContentType,
// Correlation and Payload alias the frame's bytes, so they are valid only
// while the frame's buffer is neither freed to a pool nor written. Copy
// (strings.Clone, bytes.Clone) what must outlive it. The Record itself is
// overwritten by the Decoder's next Next or Reset.
type Record struct {
	Topic       string
	Payload     []byte
	ContentType string // "" when absent
	Correlation string // "" when absent
	TTLMs       int64  // 0 when absent; never negative
	Retain      bool
	SyncOnly    bool
	TimestampMs int64 // publish time on the source's wall clock, Unix ms

	// ReplyTo is where a reply to the message goes (an inbox topic); ""
	// when none. Groups are the queue groups the sending daemon chose the
	// receiving daemon for (PushPacked only); from a Decoder, a slice it
	// reuses at the next record.
	ReplyTo string
	Groups  []string

	// Source and Epoch name the instance that numbered the message; ""
	// in a frame without a source table. Number is the source's own
	// message number, from which the message id is derived (DeriveID),
	// 1..MaxNumber; 0 when the record has an explicit ID or no source.
	Source string
	Epoch  uint64
	Number uint64
	ID     string // explicit message id; "" when the id is derived

	// Seq is the record's number within its topic: source_sequence on the
	// mesh, sequence_number to a subscriber; 0 = not numbered. PrevSeq
	// and DroppedFrom are the mesh envelope's prev_source_sequence and
	// dropped_from. PrevSeq is Seq-1 unless the record says otherwise (0
	// when Seq is 0); it is below Seq, and DroppedFrom, when not 0, is at
	// most PrevSeq.
	Seq         uint64
	PrevSeq     uint64
	DroppedFrom uint64

	// Set by the Decoder, ignored by the Encoder: the record's index in
	// the frame's topic table and source table (-1: no source), so a
	// reader can tell runs of one topic without comparing strings.
	TopicIndex  int
	SourceIndex int

	src *sourceEntry // the Decoder's entry, which caches the id prefix
}

// HasID reports whether the record has a message id: an explicit one, or
// a source to derive one from.
func (r *Record) HasID() bool { return r.ID != "" || r.Source != "" }

// AppendID appends the record's message id to dst: the explicit ID, or the
// derived id in its 36-character UUID form; nothing when it has neither.
// It does not allocate beyond growing dst.
func (r *Record) AppendID(dst []byte) []byte {
	switch {
	case r.ID != "":
		return append(dst, r.ID...)
	case r.Source == "":
		return dst
	case r.src != nil:
		return r.src.appendID(dst, r.Number)
	}
	return DeriveID(r.Source, r.Epoch, r.Number).AppendString(dst)
}

// MessageID returns the record's message id as a new string, as AppendID.
func (r *Record) MessageID() string {
	if r.ID != "" {
		return r.ID
	}
	var b [36]byte
	return string(r.AppendID(b[:0]))
}
