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

// FuzzAppendPlainRun: whatever bytes a run is said to be, AppendPlainRun
// never panics, and what it takes leaves a frame that decodes, its record
// after the first continuing it as plain records do.
func FuzzAppendPlainRun(f *testing.F) {
	f.Add([]byte{3, 0, 0, 'x', 4, 0, 0, 'y', 'y'}, 2, 64)
	f.Add([]byte{0x83, 0x01, 0, 0, 'x'}, 1, 64)
	f.Add([]byte{3, 1, 0, 'x'}, 1, 3)
	f.Fuzz(func(t *testing.T, recs []byte, k, maxRecords int) {
		var e Encoder
		e.Limits = Limits{MaxRecords: 1 + abs(maxRecords)%300, MaxFrameBytes: 4096}
		first := Record{Topic: "t", Payload: []byte("a"), Seq: 7, PrevSeq: 6, Source: "n1", Number: 9, TimestampMs: 5}
		if err := e.Append(&first); err != nil {
			t.Fatal(err)
		}
		took, used := e.AppendPlainRun(recs, k%1000)
		if took < 0 || took > max(k%1000, 0) || used < 0 || used > len(recs) || (took == 0) != (used == 0) {
			t.Fatalf("took %d records, %d bytes of %d", took, used, len(recs))
		}
		var d Decoder
		frame := e.AppendFrame(nil)
		if err := d.Reset(frame); err != nil {
			t.Fatalf("took %d: the frame does not decode: %v", took, err)
		}
		if d.Count() != 1+took || len(frame) > 4096 {
			t.Fatalf("%d records in a frame of %d bytes, want %d", d.Count(), len(frame), 1+took)
		}
		for i := 0; d.Next(); i++ {
			r := d.Record()
			if r.Topic != "t" || r.Seq != uint64(7+i) || r.Number != uint64(9+i) || r.Source != "n1" || r.TimestampMs != 5 || r.ContentType != "" {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
	})
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
