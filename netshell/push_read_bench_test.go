package netshell

import (
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
)

// BenchmarkPushFrameRead: a receiving daemon reads a pushed frame of 1024
// records of 128 bytes, one topic, one source, into envelopes.
func BenchmarkPushFrameRead(b *testing.B) {
	t := &testing.T{}
	recs := make([]packed.Record, 1024)
	for i := range recs {
		recs[i] = packed.Record{Topic: "bench/t", Source: "7f3c2a90-5b1e-4d2f-8a6c-0e9b4d3f2a11", Number: uint64(i + 1),
			Seq: uint64(i + 1), PrevSeq: uint64(i), Payload: make([]byte, 128)}
	}
	f := frame(t, recs...)
	var fr pushFrameReader
	spare, err := fr.envelopes(f, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if spare, err = fr.envelopes(f, spare[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
