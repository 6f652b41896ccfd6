package packed

import (
	"testing"
)

// benchRecords is a stream of n messages of size-byte payloads: one
// source, consecutive numbers, the clock moving every 64 messages, and
// topics topics in runs of 16.
func benchRecords(n, size, topics int) []Record {
	names := []string{"bench/t", "bench/u", "sensors/7/temp", "orders/eu"}
	payload := make([]byte, size)
	recs := make([]Record, n)
	seqs := make([]uint64, len(names))
	for i := range recs {
		ti := i / 16 % topics
		seqs[ti]++
		recs[i] = Record{Topic: names[ti], Payload: payload, TimestampMs: 1700000000000 + int64(i/64),
			Source: "9f2c0a1e-6b3d-4c55-8e21-0d7f3a9b1c44", Number: uint64(i + 1), Seq: seqs[ti], PrevSeq: seqs[ti] - 1}
	}
	return recs
}

func benchEncode(b *testing.B, topics int) {
	recs := benchRecords(1024, 128, topics)
	var e Encoder
	e.Reset()
	for i := range recs {
		e.Append(&recs[i])
	}
	b.SetBytes(int64(e.Size()))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.Reset()
		for i := range recs {
			if err := e.Append(&recs[i]); err != nil {
				b.Fatal(err)
			}
		}
		e.Frame()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

func benchDecode(b *testing.B, topics int, ids bool) {
	recs := benchRecords(1024, 128, topics)
	var e Encoder
	e.Reset()
	for i := range recs {
		e.Append(&recs[i])
	}
	frame := e.AppendFrame(nil)
	var d Decoder
	var id []byte
	sum := 0
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := d.Reset(frame); err != nil {
			b.Fatal(err)
		}
		for d.Next() {
			r := d.Record()
			sum += len(r.Payload) + int(r.Seq)
			if ids {
				id = r.AppendID(id[:0])
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	_ = sum
}

// 1024 records of 128 B, one topic.
func BenchmarkEncode1024x128(b *testing.B) { benchEncode(b, 1) }
func BenchmarkDecode1024x128(b *testing.B) { benchDecode(b, 1, false) }

// The same with each record's 36-character message id rendered.
func BenchmarkDecode1024x128WithIDs(b *testing.B) { benchDecode(b, 1, true) }

// Four topics in runs of 16: sequence deltas at every topic change.
func BenchmarkEncode1024x128FourTopics(b *testing.B) { benchEncode(b, 4) }
func BenchmarkDecode1024x128FourTopics(b *testing.B) { benchDecode(b, 4, false) }
