package netshell

// Packed records and the core's envelopes, both ways: what PushPacked
// carries. Like convert.go, the one place the two meet.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unsafe"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/state"
)

// pushFrameReader turns the frames of one push stream into envelopes. It is
// not safe for concurrent use.
type pushFrameReader struct {
	dec    packed.Decoder
	names  map[string]string // topics and sources seen on the stream, as owned strings
	id     []byte
	topics []string // the frame's topic table, interned
	srcs   []string // the frame's source table, interned
	copies arena    // the records' ids and strings (and payloads, unless borrowed), but a retained one's
	borrow bool     // payloads are left in the frame (PushReceived.Borrowed), not copied
}

var errSourceless = errors.New("packed frame: header: no source table: every record of a PushPacked frame names its source")

// maxInternedNames bounds pushFrameReader.names; past it the map starts over.
const maxInternedNames = 4096

// envelopes decodes frame, validating it whole first: on error nothing was
// read from it. Every record must have a source (a push comes from the
// instance that numbered the message, or relays one that has one).
//
// The frame is gRPC's receive buffer, decoded in place (held,
// received_frames.go). With borrow set (PushPacked), the payloads are left
// in it, for the node to copy what it keeps (PushReceived.Borrowed) while
// the frame is kept until the batch is answered; otherwise the envelopes
// own every byte, as the frame is given back once they are made. Either
// way a record's id and strings are copied, as a publish frame's are
// (arena: small ones share 2 KiB chunks, a large frame of one topic has
// its own), a retained record's into one allocation of its own: one
// message kept long (a retained value, the newest of a quiet topic in its
// ring) would otherwise hold its whole frame, bytes no store of the node
// counts. Topics and sources are interned per stream, once per frame.
//
// It appends to into, an empty slice whose array may be reused.
func (fr *pushFrameReader) envelopes(frame []byte, into []state.Envelope) ([]state.Envelope, error) {
	d := &fr.dec
	if err := d.Reset(frame); err != nil {
		return nil, err
	}
	envs := slices.Grow(into[:0], d.Count())
	fr.topics, fr.srcs = d.Tables(fr.intern, fr.topics, fr.srcs)
	if len(fr.topics) == 1 && !fr.borrow {
		fr.copies.oneTopic(len(frame), d.Count())
	}
	defer fr.copies.done()
	for d.Next() {
		r := d.Record()
		if r.Source == "" { // then no record has one
			return nil, errSourceless
		}
		envs = envs[:len(envs)+1] // room made above
		fr.envelope(&envs[len(envs)-1], r)
	}
	return envs, nil
}

// envelope sets every field of e, in the frame's slice: returned by value,
// each was built aside and then copied in (BenchmarkPushFrameRead).
func (fr *pushFrameReader) envelope(e *state.Envelope, r *packed.Record) {
	// A derived id goes as its number, rendered only if something reads
	// the string (state.Node.named); a retained value's, which the node
	// compares and asks about by id, at once.
	derived := r.ID == "" && r.Epoch == 0 && r.Number != 0
	fr.id = fr.id[:0]
	if !derived || r.Retain {
		fr.id = r.AppendID(fr.id)
	}
	take, str := fr.copies.bytes, fr.copies.string
	if r.Retain { // kept for good, maybe: in an allocation of its own
		n := len(fr.id) + len(r.ContentType) + len(r.Correlation) + len(r.ReplyTo)
		if !fr.borrow { // (a borrowed payload the node copies)
			n += len(r.Payload)
		}
		buf := make([]byte, 0, n)
		take = func(b []byte) []byte {
			start := len(buf)
			buf = append(buf, b...)
			return buf[start:len(buf):len(buf)]
		}
		str = func(s string) string {
			if s == "" {
				return ""
			}
			b := take(unsafe.Slice(unsafe.StringData(s), len(s)))
			return unsafe.String(&b[0], len(b))
		}
	}
	// Zeroed, then set in place: a composite literal with index
	// expressions is built in a temporary and copied out in wider moves
	// than wrote it, which the CPU stalls on (state's outgoing.copyTo).
	// BenchmarkPushFrameRead: 39.2 to 37.1 ns a message.
	*e = state.Envelope{}
	e.Topic = fr.topics[r.TopicIndex]
	e.Source = fr.srcs[r.SourceIndex]
	e.TimestampMs, e.Retain, e.TTLMs = r.TimestampMs, r.Retain, r.TTLMs
	e.SourceSeq, e.PrevSeq, e.SyncOnly = r.Seq, r.PrevSeq, r.SyncOnly
	if derived {
		e.IDNum = r.Number // the id, if rendered below, is derived from it
	}
	e.ID = str(unsafe.String(unsafe.SliceData(fr.id), len(fr.id)))
	switch {
	case len(r.Payload) == 0: // none stays nil, as the batch stream gives it
	case fr.borrow:
		e.Payload = r.Payload[:len(r.Payload):len(r.Payload)]
	default:
		e.Payload = take(r.Payload)
	}
	if r.ContentType != "" || r.Correlation != "" || r.ReplyTo != "" || len(r.Groups) > 0 || r.DroppedFrom != 0 {
		x := &state.Extras{ContentType: str(r.ContentType), Correlation: str(r.Correlation), ReplyTo: str(r.ReplyTo), DroppedFrom: r.DroppedFrom}
		if len(r.Groups) > 0 { // the decoder reuses its list: names are interned, the list copied
			x.QueueGroups = make([]string, len(r.Groups))
			for i, g := range r.Groups {
				x.QueueGroups[i] = fr.intern(g)
			}
		}
		e.Extras = x
	}
}

// intern returns an owned copy of s, the same one for every frame of the
// stream that names it.
func (fr *pushFrameReader) intern(s string) string {
	if v, ok := fr.names[s]; ok {
		return v
	}
	if fr.names == nil || len(fr.names) >= maxInternedNames {
		fr.names = make(map[string]string)
	}
	v := strings.Clone(s)
	fr.names[v] = v
	return v
}

// packRecord fills r with o as a pushed record: its source at epoch 0, and
// the number its id is derived from, or the id itself when it was not
// derived (a message first numbered by a v1 peer, say).
func packRecord(r *packed.Record, o *outPush, split *packed.IDSplitter) error {
	e := &o.msg.Envelope
	// Field by field, into the record a push stream reuses: a composite
	// literal is built aside and copied, and this runs for every message.
	// What the encoder reads and this does not set (Epoch) stays zero.
	r.Topic, r.Payload, r.TimestampMs, r.Source = e.Topic, e.Payload, e.TimestampMs, e.Source
	r.ContentType, r.Correlation, r.ReplyTo = e.ContentType(), e.Correlation(), e.ReplyTo()
	r.TTLMs, r.Retain, r.SyncOnly, r.Groups = e.TTLMs, e.Retain, o.syncOnly, o.groups
	r.Seq, r.PrevSeq, r.DroppedFrom = e.SourceSeq, o.prev, o.droppedFrom
	if e.Source == "" || e.IDNum == 0 && e.ID == "" { // ID is read only without a number: Push.Msg
		return fmt.Errorf("message %q from %q: a packed push needs a source and an id", e.WireID(), e.Source)
	}
	setRecordID(r, e, split)
	return nil
}

// setRecordID gives r e's id: as the number it is derived from, which the
// node says (IDNum) or split reads out of it, or else as itself.
func setRecordID(r *packed.Record, e *state.Envelope, split *packed.IDSplitter) {
	r.Number, r.ID = 0, "" // the record may be reused: it gets one of them
	if e.IDNum != 0 {
		r.Number = e.IDNum
	} else if n, ok := split.Split(e.Source, e.ID); ok {
		r.Number = n
	} else {
		r.ID = e.ID
	}
}

// frameRefused is the status that ends a stream on a frame the decoder
// refused, naming the record and the fault, then detail: RESOURCE_EXHAUSTED
// when the frame is well formed but over a limit, INVALID_ARGUMENT
// otherwise.
func frameRefused(err error, detail string) error {
	code := codes.InvalidArgument
	var pe *packed.Error
	if errors.As(err, &pe) && pe.Limit {
		code = codes.ResourceExhausted
	}
	return status.Error(code, err.Error()+detail)
}
