package packed

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func isFull(err error) bool { return errors.Is(err, ErrFrameFull) }

// genRecords draws a stream of records as the three RPCs produce them:
// sourceless publishes, or numbered messages from a few sources, with runs
// of consecutive numbers and equal timestamps broken at random.
func genRecords(t *rapid.T) []Record {
	sourced := rapid.Bool().Draw(t, "sourced")
	topics := rapid.SliceOfN(rapid.StringMatching(`[a-z0-9/é]{1,12}`), 1, 6).Draw(t, "topics")
	type src struct {
		id    string
		epoch uint64
		next  uint64
	}
	srcs := []src{{"9f2c0a1e-6b3d-4c55-8e21-0d7f3a9b1c44", 0, 1}, {"n2", 7, 1 << 40}, {"n3", math.MaxUint64, MaxNumber - 3}}
	seqs := map[string]uint64{}
	n := rapid.IntRange(0, 200).Draw(t, "n")
	ts := rapid.Int64().Draw(t, "ts")
	out := make([]Record, 0, n)
	for range n {
		var r Record
		r.Topic = rapid.SampledFrom(topics).Draw(t, "topic")
		r.Payload = rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "payload")
		if rapid.IntRange(0, 9).Draw(t, "ts?") == 0 {
			ts += rapid.Int64Range(-5, 1000).Draw(t, "dts")
		}
		if rapid.IntRange(0, 99).Draw(t, "wild ts?") == 0 {
			ts = rapid.Int64().Draw(t, "wild ts")
		}
		r.TimestampMs = ts
		if rapid.IntRange(0, 4).Draw(t, "opt?") == 0 {
			r.ContentType = rapid.StringMatching(`[a-z/+.]{0,20}`).Draw(t, "ct")
			r.Correlation = rapid.String().Draw(t, "corr")
			r.TTLMs = rapid.Int64Range(0, math.MaxInt64).Draw(t, "ttl")
			r.Retain = rapid.Bool().Draw(t, "retain")
			r.SyncOnly = rapid.Bool().Draw(t, "sync")
			if rapid.Bool().Draw(t, "reply?") {
				r.ReplyTo = rapid.StringMatching(`_inbox/[a-z0-9]{1,8}/[0-9]{1,4}`).Draw(t, "reply")
			}
			if sourced && rapid.Bool().Draw(t, "groups?") {
				r.Groups = rapid.SliceOfN(rapid.StringMatching(`[a-z]{1,6}`), 1, 3).Draw(t, "groups")
			}
		}
		explicit := rapid.IntRange(0, 9).Draw(t, "explicit?") == 0
		if explicit {
			r.ID = rapid.StringMatching(`[0-9a-f-]{1,40}`).Draw(t, "id")
		}
		if sourced {
			s := &srcs[rapid.IntRange(0, len(srcs)-1).Draw(t, "src")]
			r.Source, r.Epoch = s.id, s.epoch
			if !explicit {
				if rapid.IntRange(0, 4).Draw(t, "gap?") == 0 {
					s.next = rapid.Uint64Range(1, MaxNumber).Draw(t, "number")
				}
				r.Number = s.next
				s.next = s.next%MaxNumber + 1
			}
		}
		if sourced || rapid.Bool().Draw(t, "numbered?") {
			seq := seqs[r.Topic] + 1
			if rapid.IntRange(0, 4).Draw(t, "seq gap?") == 0 {
				seq = rapid.Uint64().Draw(t, "seq")
			}
			seqs[r.Topic] = seq
			r.Seq = seq
			if seq > 0 {
				r.PrevSeq = seq - 1
				if rapid.IntRange(0, 4).Draw(t, "prev?") == 0 {
					r.PrevSeq = rapid.Uint64Range(0, seq-1).Draw(t, "prev")
				}
				if r.PrevSeq > 0 && rapid.IntRange(0, 4).Draw(t, "dropped?") == 0 {
					r.DroppedFrom = rapid.Uint64Range(1, r.PrevSeq).Draw(t, "dropped")
				}
			}
		}
		out = append(out, r)
	}
	return out
}

func TestRecordsSurviveEncodeDecode(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := genRecords(t)
		var e Encoder
		if rapid.Bool().Draw(t, "small limits") {
			e.Limits = Limits{
				MaxFrameBytes: rapid.IntRange(1500, 4000).Draw(t, "frame bytes"),
				MaxRecords:    rapid.IntRange(1, 20).Draw(t, "records"),
				MaxTopics:     rapid.IntRange(1, 3).Draw(t, "topics"),
				MaxSources:    rapid.IntRange(1, 2).Draw(t, "sources"),
			}
		}
		frames, err := encodeAll(&e, recs)
		if err != nil {
			t.Fatal(err)
		}
		d := Decoder{Limits: e.Limits}
		var got []Record
		for i, f := range frames {
			rs, err := decodeAll(&d, f)
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			if len(rs) == 0 {
				t.Fatalf("frame %d is empty", i)
			}
			got = append(got, rs...)
		}
		if len(got) != len(recs) {
			t.Fatalf("%d records in, %d out", len(recs), len(got))
		}
		for i := range recs {
			if s := diff(&got[i], &recs[i]); s != "" {
				t.Fatalf("record %d: %s", i, s)
			}
		}
	})
}

func TestEncoderSizeIsTheFrameLength(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := genRecords(t)
		var e Encoder
		e.Reset()
		for i := range recs {
			if err := e.Append(&recs[i]); err != nil {
				t.Fatal(err)
			}
			if h, r := e.Frame(); len(h)+len(r) != e.Size() {
				t.Fatalf("after record %d: Size %d, frame %d bytes", i, e.Size(), len(h)+len(r))
			}
		}
	})
}

// A record that does not fit leaves the frame as it was.
func TestAFullFrameIsUnchanged(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := genRecords(t)
		e := Encoder{Limits: Limits{MaxFrameBytes: 2000, MaxRecords: 10, MaxTopics: 2, MaxSources: 1}}
		e.Reset()
		for i := range recs {
			before := e.AppendFrame(nil)
			err := e.Append(&recs[i])
			if err == nil {
				continue
			}
			if after := e.AppendFrame(nil); string(after) != string(before) {
				t.Fatalf("record %d: %v, and the frame changed", i, err)
			}
			if !isFull(err) {
				t.Fatalf("record %d: %v", i, err)
			}
			e.Reset()
		}
	})
}

// A decoded record's id is its explicit id or the one DeriveID gives, and
// derived ids are distinct version-4 UUID strings.
func TestDecodedIDsAreDerivedOrExplicit(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs, frames := encodedRecords(t)
		var d Decoder
		seen := map[string]bool{}
		i := 0
		for _, f := range frames {
			if err := d.Reset(f); err != nil {
				t.Fatal(err)
			}
			for d.Next() {
				r, want := d.Record(), recs[i].ID
				if want == "" && r.Source != "" {
					want = DeriveID(recs[i].Source, recs[i].Epoch, recs[i].Number).String()
					if len(want) != 36 || want[14] != '4' || !strings.ContainsRune("89ab", rune(want[19])) {
						t.Fatalf("record %d: %s is not a version-4 UUID", i, want)
					}
					key := fmt.Sprint(r.Source, r.Epoch, r.Number)
					if seen[want] && !seen[key] {
						t.Fatalf("record %d: id %s repeats for another number", i, want)
					}
					seen[want], seen[key] = true, true
				}
				if got := r.MessageID(); got != want {
					t.Fatalf("record %d: id %q, want %q", i, got, want)
				}
				i++
			}
		}
	})
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	recs := benchRecords(256, 64, 4)
	recs[5].ContentType, recs[9].Correlation, recs[11].ID, recs[11].Number = "text/plain", "c", "explicit", 0
	var e Encoder
	var d Decoder
	var id []byte
	var frame []byte
	run := func() {
		e.Reset()
		for i := range recs {
			if err := e.Append(&recs[i]); err != nil {
				t.Fatal(err)
			}
		}
		frame = e.AppendFrame(frame[:0])
		if err := d.Reset(frame); err != nil {
			t.Fatal(err)
		}
		for d.Next() {
			id = d.Record().AppendID(id[:0])
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Errorf("%v allocations per frame of %d records", n, len(recs))
	}
}

// Tables gives every record's topic and source by its indexes, each
// through the caller's function, in arrays it reuses.
func TestTablesNameEveryRecordsTopicAndSource(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, frames := encodedRecords(t)
		var d Decoder
		var topics, srcs []string
		i := 0
		for _, f := range frames {
			if err := d.Reset(f); err != nil {
				t.Fatal(err)
			}
			calls := 0
			topics, srcs = d.Tables(func(s string) string { calls++; return "<" + s + ">" }, topics, srcs)
			if len(topics) != d.Topics() || len(srcs) != d.Sources() || calls != len(topics)+len(srcs) {
				t.Fatalf("tables of %d topics and %d sources, %d calls; the frame has %d and %d", len(topics), len(srcs), calls, d.Topics(), d.Sources())
			}
			for d.Next() {
				r := d.Record()
				if topics[r.TopicIndex] != "<"+r.Topic+">" || r.SourceIndex >= 0 && srcs[r.SourceIndex] != "<"+r.Source+">" {
					t.Fatalf("record %d: topic %q source %q, tables say %q and %v", i, r.Topic, r.Source, topics[r.TopicIndex], srcs)
				}
				i++
			}
		}
	})
}

// encodedRecords draws records and encodes them into frames.
func encodedRecords(t *rapid.T) ([]Record, [][]byte) {
	recs := genRecords(t)
	frames, err := encodeAll(&Encoder{}, recs)
	if err != nil {
		t.Fatal(err)
	}
	return recs, frames
}

// An encoder told its strings are stable keeps them instead of copying
// them, and writes the same frames as one that copies.
func TestStableStringsMakeTheSameFrames(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := genRecords(t)
		copying, err := encodeAll(&Encoder{}, recs)
		if err != nil {
			t.Fatal(err)
		}
		stable := Encoder{StableStrings: true}
		kept, err := encodeAll(&stable, recs)
		if err != nil {
			t.Fatal(err)
		}
		if len(kept) != len(copying) {
			t.Fatalf("%d frames from stable strings, %d copying", len(kept), len(copying))
		}
		for i := range kept {
			if !bytes.Equal(kept[i], copying[i]) {
				t.Fatalf("frame %d differs with stable strings", i)
			}
		}
		if len(stable.names) != 0 {
			t.Fatalf("stable strings copied into the name buffer: %q", stable.names)
		}
	})
}

// One decoder reading frames of one source at two epochs derives each
// record's id from its own epoch (the id prefix it keeps from frame to
// frame is the epoch's too).
func TestDecodedIDsFollowTheirEpochAcrossFrames(t *testing.T) {
	var d Decoder
	for _, epoch := range []uint64{0, 1} {
		var e Encoder
		if err := e.Append(&Record{Topic: "t", Source: "n1", Epoch: epoch, Number: 7}); err != nil {
			t.Fatal(err)
		}
		if err := d.Reset(e.AppendFrame(nil)); err != nil {
			t.Fatal(err)
		}
		d.Next()
		if got, want := string(d.Record().AppendID(nil)), DeriveID("n1", epoch, 7).String(); got != want {
			t.Fatalf("epoch %d: id %s, want %s", epoch, got, want)
		}
	}
}
