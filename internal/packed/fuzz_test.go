package packed

import (
	"encoding/hex"
	"errors"
	"testing"
)

// FuzzPackedDecode: decoding never panics and refuses with an *Error; what
// decodes re-encodes to a frame that decodes to the same records, and
// encoding that again gives the same bytes.
func FuzzPackedDecode(f *testing.F) {
	for _, g := range goldenFrames {
		b, _ := hex.DecodeString(g.hex)
		f.Add(b)
	}
	var e Encoder
	e.Reset()
	for i := range 20 {
		r := Record{Topic: []string{"a", "b/c"}[i%2], Payload: []byte{byte(i)}, TimestampMs: int64(i / 3),
			Source: []string{"n1", "n2"}[i%3/2], Number: uint64(i + 1), Seq: uint64(i/2 + 1), PrevSeq: uint64(i / 2)}
		if i%7 == 6 {
			r.Number, r.ID, r.ContentType, r.TTLMs = 0, "id", "ct", 9
		}
		if err := e.Append(&r); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(e.AppendFrame(nil))
	f.Add(cat(hdr(2, "t", "u"), 2, 0, 1, 4, flagTimestamp, 0, 3, 'x'))

	var d Decoder
	d.Limits = Limits{MaxFrameBytes: 1 << 16, MaxRecords: 512, MaxTopics: 64, MaxSources: 16}
	f.Fuzz(func(t *testing.T, frame []byte) {
		err := d.Reset(frame)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("%T %v", err, err)
			}
			if d.Next() {
				t.Fatal("Next after a refused frame")
			}
			return
		}
		var recs []Record
		var id []byte
		for d.Next() {
			r := d.Record()
			id = r.AppendID(id[:0])
			if r.HasID() != (len(id) > 0) {
				t.Fatalf("record %d: HasID %v, id %q", len(recs), r.HasID(), id)
			}
			recs = append(recs, owned(r))
		}
		if len(recs) != d.Count() {
			t.Fatalf("%d records of %d", len(recs), d.Count())
		}
		enc := Encoder{Limits: d.Limits}
		enc.Limits.MaxFrameBytes = 1 << 20
		frames, err := encodeAll(&enc, recs)
		if err != nil {
			t.Fatalf("re-encoding what decoded: %v", err)
		}
		if len(recs) == 0 {
			return
		}
		if len(frames) != 1 {
			t.Fatalf("%d records re-encode to %d frames", len(recs), len(frames))
		}
		var d2 Decoder
		d2.Limits = enc.Limits
		again, err := decodeAll(&d2, frames[0])
		if err != nil {
			t.Fatalf("re-encoded frame: %v", err)
		}
		for i := range recs {
			if s := diff(&again[i], &recs[i]); s != "" {
				t.Fatalf("record %d: %s", i, s)
			}
		}
		third, err := encodeAll(&enc, again)
		if err != nil || string(third[0]) != string(frames[0]) {
			t.Fatalf("encoding is not stable: %v\n%x\n%x", err, frames[0], third[0])
		}
	})
}
