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
		var e Encoder
		frames, err := encodeAll(&e, recs)
		if err != nil || len(frames) != 1 {
			t.Fatalf("%s: %d frames, %v", name, len(frames), err)
		}
		var d Decoder
		got, err := decodeAll(&d, frames[0])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(recs) {
			t.Fatalf("%s: %d records, want %d", name, len(got), len(recs))
		}
		for i := range recs {
			if s := diff(&got[i], &recs[i]); s != "" {
				t.Errorf("%s: record %d: %s", name, i, s)
			}
		}
	}
}
