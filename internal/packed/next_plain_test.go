package packed

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// Next reads a plain record through its fast path (nextPlain) exactly as
// parse reads it: over frames of every mix, with and without sources,
// each record Next hands out equals parse's.
func TestNextReadsPlainRecordsAsParseDoes(t *testing.T) {
	for seed := range 300 {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 3))
			var e Encoder
			e.Limits = Limits{MaxRecords: 4096, MaxFrameBytes: 1 << 22}
			sourced := rng.IntN(2) == 0
			num, seq := uint64(1+rng.IntN(5)), uint64(rng.IntN(3))
			for i := range 1 + rng.IntN(200) {
				r := Record{Topic: []string{"a", "b/c", "d"}[rng.IntN(3)*rng.IntN(2)], Payload: make([]byte, rng.IntN(200)), TimestampMs: 7}
				r.Payload = append(r.Payload[:0], fmt.Sprint(i)...)
				if rng.IntN(4) == 0 {
					r.Payload = append(r.Payload, make([]byte, 130)...) // a two-byte length
				}
				switch rng.IntN(10) {
				case 0:
					r.ContentType = "text/plain"
				case 1:
					r.TimestampMs = 8
				case 2:
					r.TTLMs = 5
				case 3:
					seq += 3
				case 4:
					r.Retain = true
				}
				if seq > 0 {
					r.Seq, r.PrevSeq = seq, seq-1
					seq++
				}
				if sourced {
					r.Source, r.Number = "n1", num
					num++
					if rng.IntN(12) == 0 {
						num += 2
					}
				}
				if err := e.Append(&r); err != nil {
					t.Fatal(err)
				}
			}
			frame := e.AppendFrame(nil)
			var fast, slow Decoder
			if err := fast.Reset(frame); err != nil {
				t.Fatal(err)
			}
			if err := slow.Reset(frame); err != nil {
				t.Fatal(err)
			}
			for i := 0; fast.Next(); i++ {
				p, err := slow.parse(slow.idx, slow.pos) // what Next did before its fast path
				if err != nil {
					t.Fatal(err)
				}
				slow.pos, slow.idx = p, slow.idx+1
				if !reflect.DeepEqual(fast.rec, slow.rec) {
					t.Fatalf("record %d:\nNext  %+v\nparse %+v", i, fast.rec, slow.rec)
				}
				if fast.pos != slow.pos {
					t.Fatalf("record %d: Next moved to %d, parse to %d", i, fast.pos, slow.pos)
				}
			}
			if fast.idx != fast.count {
				t.Fatalf("Next stopped at %d of %d", fast.idx, fast.count)
			}
		})
	}
}
