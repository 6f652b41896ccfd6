package packed

import (
	"fmt"
	"testing"
)

// Reset validates plain records (no flags, a one-byte topic index) by a
// shortcut; these frames sit at its edges, and each must decode to the
// records it was made from.
func TestPlainRecordsAtTheShortcutsEdges(t *testing.T) {
	manyTopics := func() []Record {
		var recs []Record
		for i := range 200 { // indexes from 128 on take two bytes
			recs = append(recs, Record{Topic: fmt.Sprintf("t/%d", i), Payload: []byte{byte(i)}, Seq: 1})
		}
		for i := range 4 {
			recs = append(recs, Record{Topic: "t/150", Payload: []byte("again"), Seq: uint64(2 + i), PrevSeq: uint64(1 + i)})
		}
		return recs
	}
	lengths := func() []Record {
		var recs []Record
		for _, n := range []int{0, 1, 125, 126, 127, 200, 16381, 16382, 16383, 20000} { // body = n + 2
			recs = append(recs, Record{Topic: "t", Payload: make([]byte, n), Seq: uint64(len(recs) + 1), PrevSeq: uint64(len(recs))})
		}
		return recs
	}
	lastNumbers := func() []Record {
		var recs []Record
		for i := range 3 {
			recs = append(recs, Record{Topic: "t", Payload: []byte("p"), Source: "n1", Number: MaxNumber - 2 + uint64(i)})
		}
		return recs
	}
	unnumbered := func() []Record {
		return []Record{{Topic: "t", Payload: []byte("a")}, {Topic: "t", Payload: []byte("b")}, {Topic: "u", Payload: []byte("c"), Seq: 7}}
	}
	for name, recs := range map[string][]Record{"200 topics": manyTopics(), "lengths": lengths(), "last numbers": lastNumbers(), "unnumbered": unnumbered()} {
		roundTripOneFrame(t, name, recs)
	}
}

// roundTripOneFrame encodes recs into one frame and checks that it decodes
// to them.
func roundTripOneFrame(t *testing.T, name string, recs []Record) {
	t.Helper()
	var e Encoder
	frames, err := encodeAll(&e, recs)
	if err != nil || len(frames) != 1 {
		t.Fatalf("%s: %d frames, %v", name, len(frames), err)
	}
	var d Decoder
	got, err := decodeAll(&d, frames[0])
	if err != nil || len(got) != len(recs) {
		t.Fatalf("%s: %d records of %d, %v", name, len(got), len(recs), err)
	}
	for i := range recs {
		if s := diff(&got[i], &recs[i]); s != "" {
			t.Errorf("%s: record %d: %s", name, i, s)
		}
	}
}

// Append takes plain records by a shortcut too; these records look plain
// but for one thing, which must survive the round trip.
func TestEncoderShortcutKeepsWhatIsNotPlain(t *testing.T) {
	p := []byte("p")
	for name, recs := range map[string][]Record{
		"new epoch, next number": {{Topic: "t", Payload: p, Source: "n1", Number: 1}, {Topic: "t", Payload: p, Source: "n1", Epoch: 1, Number: 2}},
		"second source":          {{Topic: "t", Payload: p, Source: "n1", Number: 1}, {Topic: "t", Payload: p, Source: "n2", Number: 2}, {Topic: "t", Payload: p, Source: "n2", Number: 3}},
		"clock moved":            {{Topic: "t", Payload: p, TimestampMs: 5}, {Topic: "t", Payload: p, TimestampMs: 6}},
		"prev apart":             {{Topic: "t", Payload: p, Seq: 1}, {Topic: "t", Payload: p, Seq: 2, PrevSeq: 0}},
		"dropped":                {{Topic: "t", Payload: p, Seq: 1}, {Topic: "t", Payload: p, Seq: 2, PrevSeq: 1, DroppedFrom: 1}},
		"other topic":            {{Topic: "t", Payload: p}, {Topic: "u", Payload: p}},
	} {
		roundTripOneFrame(t, name, recs)
	}

	var e Encoder
	e.Reset()
	if err := e.Append(&Record{Topic: "t", Payload: p, Source: "n1", Number: MaxNumber}); err != nil {
		t.Fatal(err)
	}
	if err := e.Append(&Record{Topic: "t", Payload: p, Source: "n1", Number: MaxNumber + 1}); err == nil || isFull(err) {
		t.Errorf("number past MaxNumber: %v, want a refusal", err)
	}
}

// A frame of plain records stops at its byte limit, wherever that falls.
func TestEncoderShortcutStopsAtTheFrameLimit(t *testing.T) {
	payload := make([]byte, 100)
	for limit := 150; limit < 1200; limit += 7 {
		e := Encoder{Limits: Limits{MaxFrameBytes: limit}}
		e.Reset()
		n := 0
		for ; ; n++ {
			err := e.Append(&Record{Topic: "t", Payload: payload, Source: "n1", Number: uint64(n + 1)})
			if isFull(err) {
				break
			}
			if err != nil {
				t.Fatalf("limit %d, record %d: %v", limit, n, err)
			}
		}
		if size := len(e.AppendFrame(nil)); size > limit || size != e.Size() {
			t.Errorf("limit %d: a frame of %d records is %d bytes (Size %d)", limit, n, size, e.Size())
		}
	}
}
