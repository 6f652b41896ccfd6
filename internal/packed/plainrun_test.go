package packed

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// A subscriber's frame that takes a run of records as they lay in the
// frame they were published in (AppendPlainRun) is byte for byte the frame
// those records appended one by one make, whatever the published frame
// held: records with fields of their own, other topics, payloads of every
// length prefix, frames that fill up.
func TestAPlainRunIsTheFrameItsRecordsMakeOneByOne(t *testing.T) {
	for seed := range 200 {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { plainRunCase(t, uint64(seed)) })
	}
}

func plainRunCase(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	// The published frame: sourceless, as a publisher sends it.
	var pub Encoder
	pub.Limits = Limits{MaxRecords: 4096, MaxFrameBytes: 1 << 22}
	n := 1 + rng.IntN(300)
	topics := []string{"a/b", "a/c"}
	for i := range n {
		r := Record{Topic: topics[0], Payload: bytes.Repeat([]byte{byte('a' + i%26)}, rng.IntN(300)), TimestampMs: 1000}
		switch rng.IntN(12) {
		case 0:
			r.ContentType = "text/plain"
		case 1:
			r.Topic = topics[1]
		case 2:
			r.TimestampMs = 1001
		}
		if err := pub.Append(&r); err != nil {
			t.Fatal(err)
		}
	}
	frame := pub.AppendFrame(nil)
	var dec Decoder
	dec.Limits = pub.Limits
	if err := dec.Reset(frame); err != nil {
		t.Fatal(err)
	}
	// Where each record's payload ends in the frame, and the records as
	// a subscriber gets them: numbered, one source, one timestamp.
	var recs []Record
	var ends []int
	for dec.Next() {
		r := owned(dec.Record())
		r.Source, r.Number, r.Seq, r.TimestampMs = "n1", uint64(len(recs)+1), uint64(len(recs)+1), 5000
		r.PrevSeq = r.Seq - 1
		recs = append(recs, r)
		ends = append(ends, dec.pos) // where the record, and so its payload, ends
	}
	lim := Limits{MaxRecords: 1 + rng.IntN(200), MaxFrameBytes: 2000 + rng.IntN(30000)}

	// One by one.
	var want [][]byte
	var one Encoder
	one.Limits = lim
	for i := 0; i < len(recs); {
		if err := one.Append(&recs[i]); err != nil {
			if one.Count() == 0 {
				t.Fatal(err)
			}
			want = append(want, one.AppendFrame(nil))
			one.Reset()
			continue
		}
		i++
	}
	want = append(want, one.AppendFrame(nil))

	// By runs: a record appended, then what follows it as it lies.
	var got [][]byte
	var runs Encoder
	runs.Limits = lim
	took := 0
	for i := 0; i < len(recs); {
		if err := runs.Append(&recs[i]); err != nil {
			got = append(got, runs.AppendFrame(nil))
			runs.Reset()
			continue
		}
		// What the caller vouches for: the records after i that continue
		// it but for their fields, which their bytes show (on one topic).
		same := 0
		for i+1+same < len(recs) && recs[i+1+same].Topic == recs[i].Topic {
			same++
		}
		k, used := runs.AppendPlainRun(frame[ends[i]:ends[i+same]], same)
		if k > 0 && ends[i]+used != ends[i+k] {
			t.Fatalf("took %d records in %d bytes, which end at %d, not where record %d does (%d)", k, used, ends[i]+used, i+k, ends[i+k])
		}
		took += k
		i += 1 + k
	}
	got = append(got, runs.AppendFrame(nil))
	if len(got) != len(want) {
		t.Fatalf("%d frames by runs, %d one by one", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs:\n runs %x\n one  %x", i, got[i], want[i])
		}
	}
	if n > 20 && took == 0 {
		t.Fatalf("of %d records none went in a run", n)
	}
}

// AppendPlainRun takes nothing after a record a plain one may not follow,
// nor records that are not plain, nor bytes that are no records at all.
func TestAPlainRunTakesOnlyPlainRecords(t *testing.T) {
	var e Encoder
	plain := func(payload string) []byte { // body, no flags, topic 0, payload
		return append([]byte{byte(2 + len(payload)), 0, 0}, payload...)
	}
	run := append(plain("x"), plain("yy")...)
	if k, _ := e.AppendPlainRun(run, 2); k != 0 {
		t.Fatalf("took %d into an empty frame", k)
	}
	if err := e.Append(&Record{Topic: "t", Payload: []byte("a"), Seq: 1, Source: "n1", Number: 1}); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"a flag":              {3, 1, 0, 'x'},
		"another topic":       {3, 0, 1, 'x'},
		"a long length":       {0x83, 0, 0, 0, 'x'},
		"a record past recs":  {9, 0, 0, 'x'},
		"a length too short":  {1, 0},
		"nothing":             nil,
		"a truncated varint":  {0x83},
		"a long topic varint": {4, 0, 0x80, 0, 'x'},
	} {
		if k, used := e.AppendPlainRun(bad, 5); k != 0 || used != 0 {
			t.Errorf("%s: took %d records, %d bytes", name, k, used)
		}
	}
	if k, used := e.AppendPlainRun(append(run, 3, 1, 0, 'z'), 3); k != 2 || used != len(run) {
		t.Fatalf("took %d records, %d bytes; want the 2 plain ones, %d bytes", k, used, len(run))
	}
	for _, k := range []int{1, 2, 4} { // recs holds 3 records, not k
		if took, _ := e.AppendPlainRun(append(run, 3, 1, 0, 'z'), k); took != 0 {
			t.Errorf("took %d records of 3 said to be %d", took, k)
		}
	}
	if k, _ := e.AppendPlainRun(plain("w"), 0); k != 0 {
		t.Fatalf("took %d of 0", k)
	}
}
