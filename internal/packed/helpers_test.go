package packed

import (
	"bytes"
	"fmt"
	"strings"
)

// owned copies r out of any frame it views.
func owned(r *Record) Record {
	c := *r
	c.Topic, c.Source, c.ID = strings.Clone(r.Topic), strings.Clone(r.Source), strings.Clone(r.ID)
	c.ContentType, c.Correlation = strings.Clone(r.ContentType), strings.Clone(r.Correlation)
	c.ReplyTo, c.Groups = strings.Clone(r.ReplyTo), nil
	for _, g := range r.Groups {
		c.Groups = append(c.Groups, strings.Clone(g))
	}
	c.Payload = bytes.Clone(r.Payload)
	c.TopicIndex, c.SourceIndex, c.src = 0, 0, nil
	return c
}

// diff describes how two records differ, "" when they are the same message.
func diff(a, b *Record) string {
	x, y := owned(a), owned(b)
	if !bytes.Equal(x.Payload, y.Payload) {
		return fmt.Sprintf("payload %q != %q", x.Payload, y.Payload)
	}
	if fields(&x) != fields(&y) {
		return fmt.Sprintf("\n got %+v\nwant %+v", fields(&x), fields(&y))
	}
	return ""
}

type recordFields struct {
	Topic, ContentType, Correlation, Source, ID string
	ReplyTo, Groups                             string
	TTLMs, TimestampMs                          int64
	Retain, SyncOnly                            bool
	Epoch, Number, Seq, PrevSeq, DroppedFrom    uint64
}

func fields(r *Record) recordFields {
	return recordFields{r.Topic, r.ContentType, r.Correlation, r.Source, r.ID, r.ReplyTo, fmt.Sprintf("%q", r.Groups), r.TTLMs, r.TimestampMs,
		r.Retain, r.SyncOnly, r.Epoch, r.Number, r.Seq, r.PrevSeq, r.DroppedFrom}
}

// decodeAll decodes frame into owned records.
func decodeAll(d *Decoder, frame []byte) ([]Record, error) {
	if err := d.Reset(frame); err != nil {
		return nil, err
	}
	var out []Record
	for d.Next() {
		out = append(out, owned(d.Record()))
	}
	return out, nil
}

// encodeAll encodes recs into as many frames as the limits need.
func encodeAll(e *Encoder, recs []Record) ([][]byte, error) {
	var frames [][]byte
	e.Reset()
	for i := range recs {
		err := e.Append(&recs[i])
		if err != nil && isFull(err) {
			frames = append(frames, e.AppendFrame(nil))
			e.Reset()
			err = e.Append(&recs[i])
		}
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	if e.Count() > 0 {
		frames = append(frames, e.AppendFrame(nil))
	}
	return frames, nil
}
