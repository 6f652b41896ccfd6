package packed

import (
	"bytes"
	"fmt"
	"testing"
)

// plainRun is a run of n messages that continue one another plainly on
// topic, from source (sourceless when ""), numbered from seq and number.
func plainRun(topic, source string, seq, number uint64, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		s := seq + uint64(i)
		if seq == 0 {
			s = 0 // an unnumbered run stays unnumbered
		}
		recs[i] = Record{Topic: topic, Source: source, Payload: []byte(fmt.Sprintf("%s#%d", topic, s)), TimestampMs: 1_700_000_000_123, Seq: s}
		if s > 0 {
			recs[i].PrevSeq = s - 1
		}
		if source != "" {
			recs[i].Number = number + uint64(i)
		}
	}
	return recs
}

// headed is what a holder of recs keeps: each record's plain header and
// payload, one after the other.
func headed(recs []Record) []byte {
	var b []byte
	for i := range recs {
		b = AppendPlainHeader(b, len(recs[i].Payload))
		b = append(b, recs[i].Payload...)
	}
	return b
}

// A run appended as bytes after its first record makes the frame that
// appending each record makes, byte for byte, whatever the index of its
// topic, sourced or not, numbered or not.
func TestPlainRecordsAppendAsTheRecordsWould(t *testing.T) {
	cases := []struct {
		name   string
		before []Record // records of other topics first: the run's index
		run    []Record
	}{
		{"sourced, index 0", nil, plainRun("a/b", "n1", 7, 40, 50)},
		{"sourceless", nil, plainRun("a/b", "", 1, 0, 20)},
		{"unnumbered", nil, plainRun("a/b", "n1", 0, 1, 5)},
		{"index 3", plainRun("x", "n1", 1, 1, 1), plainRun("a/b", "n1", 9, 2, 30)},
		{"index 127", manyTopicRecords(127), plainRun("a/b", "n1", 2, 128, 10)},
	}
	for _, c := range cases {
		if c.before != nil && c.run[0].Source == "" {
			t.Fatalf("%s: mixed sources", c.name)
		}
		all := append(append([]Record(nil), c.before...), c.run...)
		var want Encoder
		if _, err := encodeAll(&want, all); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var e Encoder
		for i := range c.before {
			if err := e.Append(&c.before[i]); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		if err := e.Append(&c.run[0]); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if k := e.AppendPlainRecords(headed(c.run[1:]), len(c.run)-1); k != len(c.run)-1 {
			t.Fatalf("%s: appended %d of %d", c.name, k, len(c.run)-1)
		}
		if got, w := e.AppendFrame(nil), want.AppendFrame(nil); !bytes.Equal(got, w) {
			t.Errorf("%s: frame\n%x\nwant\n%x", c.name, got, w)
		}
		// And more appended one by one afterwards continue the chains.
		next := plainRun("a/b", c.run[0].Source, c.run[0].Seq+uint64(len(c.run)), c.run[0].Number+uint64(len(c.run)), 1)
		if c.run[0].Seq == 0 {
			next[0].Seq, next[0].PrevSeq = 0, 0
		}
		if c.run[0].Source == "" {
			next[0].Number = 0
		}
		if err := e.Append(&next[0]); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var d Decoder
		got, err := decodeAll(&d, e.AppendFrame(nil))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		all = append(all, next...)
		if len(got) != len(all) {
			t.Fatalf("%s: %d records, want %d", c.name, len(got), len(all))
		}
		for i := range all {
			if s := diff(&got[i], &all[i]); s != "" {
				t.Errorf("%s: record %d: %s", c.name, i, s)
			}
		}
	}
}

func manyTopicRecords(n int) []Record {
	var recs []Record
	for i := range n {
		recs = append(recs, Record{Topic: fmt.Sprintf("t/%d", i), Source: "n1", Payload: []byte{byte(i)}, Number: uint64(1 + i), Seq: 1})
	}
	return recs
}

// It stops where the frame is full, at its records' limit, and at bytes
// that are not plain records; it appends nothing after a topic whose index
// takes two bytes.
func TestPlainRecordsStopAtTheFramesLimits(t *testing.T) {
	run := plainRun("t", "n1", 1, 1, 100)
	start := func(l Limits) *Encoder {
		e := &Encoder{Limits: l}
		if err := e.Append(&run[0]); err != nil {
			t.Fatal(err)
		}
		return e
	}
	recs := headed(run[1:])
	if k := start(Limits{MaxRecords: 10}).AppendPlainRecords(recs, 99); k != 9 {
		t.Errorf("records limit 10: appended %d, want 9", k)
	}
	e := start(Limits{MaxFrameBytes: 600})
	k := e.AppendPlainRecords(recs, 99)
	if k == 0 || k == 99 || e.Size() > 600 {
		t.Errorf("frame limit 600: appended %d, frame %d bytes", k, e.Size())
	}
	if next := len(headed(run[k+1 : k+2])); 41+e.tableSize+len(e.recs)+next <= 600 {
		t.Errorf("the record after them, %d bytes, fits in the %d left: it stopped early", next, 600-41-e.tableSize-len(e.recs))
	}
	bad := headed(run[1:3])
	bad[len(AppendPlainHeader(nil, len(run[1].Payload)))+len(run[1].Payload)+1] = 0x01 // the second record's flags
	if k := start(Limits{}).AppendPlainRecords(bad, 2); k != 1 {
		t.Errorf("flags set on the second record: appended %d, want 1", k)
	}
	if k := start(Limits{}).AppendPlainRecords(recs[:len(recs)-1], 99); k != 98 {
		t.Errorf("cut short: appended %d, want 98", k)
	}
	wide := &Encoder{}
	for _, r := range manyTopicRecords(129) {
		if err := wide.Append(&r); err != nil {
			t.Fatal(err)
		}
	}
	if k := wide.AppendPlainRecords(headed(plainRun("t/128", "n1", 2, 130, 2)), 2); k != 0 {
		t.Errorf("after topic index 128: appended %d, want 0", k)
	}
}
