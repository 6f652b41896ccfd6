package client

import (
	"bytes"
	"slices"
	"strings"
	"time"
	"unsafe"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/packed"
)

// frameReader is what a subscription keeps from one packed frame to the
// next, so that reading one allocates only what its messages keep: used
// by the run goroutine alone.
type frameReader struct {
	dec    packed.Decoder
	names  map[string]string // interned topics, sources and content types
	topics []string          // the frame's topic table, interned
	srcs   []string          // the frame's source table, interned
	marks  []int             // per message: where its id and its correlation id end in the frame's text
	perMsg int               // bytes of ids and correlation ids per message in the last frame
	dup    []bool            // per message of the frame: a duplicate (freshFrame)
	gaps   []Gap             // the gaps the frame revealed (freshFrame)
}

// intern returns a string equal to v that does not alias v's frame: the
// same one every time for the names that recur (topics, sources, content
// types), so a frame costs no allocation for them once they are known.
func (fr *frameReader) intern(v string) string {
	if v == "" {
		return ""
	}
	if x, ok := fr.names[v]; ok {
		return x
	}
	if fr.names == nil || len(fr.names) >= maxInterned {
		fr.names = make(map[string]string)
	}
	x := strings.Clone(v)
	fr.names[x] = x
	return x
}

// takeFrame delivers the live messages of one packed frame. It allocates
// one []Message for all of them and one buffer holding every message id
// and correlation id; topics, sources and content types are interned, and
// payloads are subslices of the frame. A borrowing subscription
// (BorrowPayloads) takes both from a lease instead, and lends them; buf,
// when not nil, is the received buffer the frame is in, which the lease
// keeps until its last message is released.
//
// Payloads may alias the frame because the frame is the messages' own:
// the client's codec (internal/vtcodec) copies a received bytes field out
// of gRPC's recycled buffer into a new slice, into a PackedFrame that
// each Recv allocates afresh, and nothing writes to it afterwards. Each
// payload is capped at its length, so an application that appends to one
// cannot overwrite the next.
func (s *Subscription) takeFrame(frame []byte, buf mem.Buffer) error {
	if buf != nil && s.leases == nil { // not lent: the frame must be the messages' own
		frame = bytes.Clone(frame)
		buf.Free()
		buf = nil
	}
	fr := &s.frames
	d := &fr.dec
	// gRPC has bounded the frame by the largest message the client takes
	// (which WithGRPCOptions may raise), and the daemon judged payload
	// sizes: the decoder adds no tighter bound on either. The rest of the
	// limits are the format's, which the daemon's frames keep.
	most := max(s.c.o.maxMessageBytes, 64<<20)
	d.Limits = packed.Limits{MaxFrameBytes: most, MaxPayloadBytes: most}
	if err := d.Reset(frame); err != nil {
		if buf != nil {
			buf.Free()
		}
		// The v1 calls carry the same messages, and a resume from the
		// last sequence numbers received loses none of them.
		s.c.packedUnreadable(err)
		return status.Errorf(codes.Unavailable, "the daemon sent a packed frame this client cannot read (%v); resuming on the v1 calls", err)
	}
	n := d.Count()
	if n == 0 {
		if buf != nil {
			buf.Free()
		}
		return nil
	}
	fr.topics, fr.srcs = d.Tables(fr.intern, fr.topics, fr.srcs)
	if s.leases != nil {
		return s.lendFrame(n, buf)
	}
	msgs := make([]Message, n)
	// Sized as the last frame needed per message: a derived id is 36
	// bytes, and a stream's correlation ids tend to be alike.
	fr.fill(msgs, make([]byte, 0, n*max(fr.perMsg, 36)))
	dup := s.freshFrame(msgs)
	for i := range msgs {
		if dup[i] {
			continue
		}
		if err := s.deliver(&msgs[i]); err != nil {
			return err
		}
	}
	return nil
}

// freshFrame is fresh for each of a frame's msgs under one lock: it
// reports the gaps they reveal, in order, and says which are duplicates,
// in a slice it reuses.
func (s *Subscription) freshFrame(msgs []Message) []bool {
	fr := &s.frames
	fr.dup = slices.Grow(fr.dup[:0], len(msgs))[:len(msgs)]
	fr.gaps = fr.gaps[:0]
	s.mu.Lock()
	for i := range msgs {
		g, fresh := s.seq.check(msgs[i].Topic, msgs[i].Sequence, msgs[i].ID)
		if g != nil {
			s.owedBy(g)
			fr.gaps = append(fr.gaps, *g)
		}
		fr.dup[i] = !fresh
	}
	s.mu.Unlock()
	for _, g := range fr.gaps {
		s.gap(g)
	}
	clear(fr.gaps)
	return fr.dup
}

// lendFrame delivers the n messages of the frame just read as lent
// messages of one lease, which keeps buf (BorrowPayloads).
func (s *Subscription) lendFrame(n int, buf mem.Buffer) error {
	l := s.leases.get(n)
	l.buf = buf
	l.text = s.frames.fill(l.msgs, l.text[:0])
	defer l.drop() // the hold of this goroutine, which get gave
	dup := s.freshFrame(l.msgs)
	for i := range l.msgs {
		m := &l.msgs[i]
		if dup[i] {
			continue
		}
		l.hold()
		m.lease = l
		if err := s.deliver(m); err != nil {
			m.lease = nil
			l.drop()
			return err
		}
	}
	return nil
}

// fill makes msgs of the decoder's records, its ids and correlation ids
// substrings of text, which it appends to and returns: text is not
// written again while the messages live.
func (fr *frameReader) fill(msgs []Message, text []byte) []byte {
	d := &fr.dec
	n := len(msgs)
	fr.marks = fr.marks[:0]
	var ctRaw, ct string // the last content type, as in the frame and interned
	for i := 0; d.Next(); i++ {
		r := d.Record()
		m := &msgs[i]
		m.Topic = fr.topics[r.TopicIndex]
		m.Payload = r.Payload[:len(r.Payload):len(r.Payload)]
		if r.ContentType != ctRaw {
			ctRaw, ct = r.ContentType, fr.intern(r.ContentType)
		}
		m.ContentType = ct
		m.Timestamp = time.UnixMilli(r.TimestampMs)
		if r.SourceIndex >= 0 {
			m.Source = fr.srcs[r.SourceIndex]
		}
		m.Sequence = int64(r.Seq)
		m.Kind = Live
		if r.ReplyTo != "" {
			m.ReplyTo = strings.Clone(r.ReplyTo) // the frame's bytes are not the message's
		}
		text = r.AppendID(text)
		fr.marks = append(fr.marks, len(text))
		text = append(text, r.Correlation...)
		fr.marks = append(fr.marks, len(text))
	}
	fr.perMsg = (len(text) + n - 1) / n
	if len(text) > 0 {
		// One string for the frame's ids and correlation ids, each message's
		// a substring.
		all := unsafe.String(unsafe.SliceData(text), len(text))
		at := 0
		for i := range msgs {
			idEnd, corrEnd := fr.marks[2*i], fr.marks[2*i+1]
			msgs[i].ID, msgs[i].CorrelationID = all[at:idEnd], all[idEnd:corrEnd]
			at = corrEnd
		}
	}
	return text
}
