package packed

import (
	"encoding/hex"
	"testing"
)

// The frames of docs/packed.md, byte for byte: the format is pinned.
var goldenFrames = []struct {
	name string
	recs []Record
	hex  string
}{
	{
		name: "publish",
		recs: []Record{
			{Topic: "t", Payload: []byte("1")},
			{Topic: "t", Payload: []byte("2"), Correlation: "c1", TTLMs: 500},
		},
		hex: "01020000010174000300003109c00100026331f40332",
	},
	{
		name: "push",
		recs: []Record{
			{Topic: "a/b", Payload: []byte("hi"), TimestampMs: 1700000000000, Source: "n1", Number: 1, Seq: 1},
			{Topic: "a/b", Payload: []byte("yo"), TimestampMs: 1700000000000, Source: "n1", Number: 2, Seq: 2, PrevSeq: 1},
			{Topic: "c", TimestampMs: 1700000000005, Source: "n1", Number: 4, Seq: 7, PrevSeq: 5, DroppedFrom: 4,
				Retain: true, ContentType: "text/plain"},
			{Topic: "a/b", Payload: []byte("v"), TimestampMs: 1699999999000, Source: "n2", Epoch: 3, ID: "x-1",
				Seq: 3, PrevSeq: 2, Retain: true, SyncOnly: true},
		},
		hex: "010480a0abfef96202026e310001026e3203000203612f62010163070400006869040000796f12b50a010a020a746578742f706c61696e05040b991400d90f0103782d3176",
	},
}

func TestGoldenFramesArePinned(t *testing.T) {
	var e Encoder
	var d Decoder
	for _, g := range goldenFrames {
		frames, err := encodeAll(&e, g.recs)
		if err != nil || len(frames) != 1 {
			t.Fatalf("%s: %v, %d frames", g.name, err, len(frames))
		}
		if got := hex.EncodeToString(frames[0]); got != g.hex {
			t.Errorf("%s: frame is\n%s\nwant\n%s", g.name, got, g.hex)
		}
		want, _ := hex.DecodeString(g.hex)
		got, err := decodeAll(&d, want)
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		for i := range g.recs {
			if s := diff(&got[i], &g.recs[i]); s != "" {
				t.Errorf("%s record %d: %s", g.name, i, s)
			}
		}
	}
}

// The derived ids of docs/packed.md.
func TestDerivedIDsArePinned(t *testing.T) {
	for _, c := range []struct {
		source        string
		epoch, number uint64
		want          string
	}{
		{"n1", 0, 1, "807d4ebc-93b8-4504-a95c-000000000001"},
		{"n1", 0, 2, "807d4ebc-93b8-4504-a95c-000000000002"},
		{"n1", 1, 1, "3e64fd80-5f0a-45c0-afa9-000000000001"},
		{"9f2c0a1e-6b3d-4c55-8e21-0d7f3a9b1c44", 0, MaxNumber, "db83ac20-2b76-4d01-83c0-ffffffffffff"},
	} {
		if got := DeriveID(c.source, c.epoch, c.number).String(); got != c.want {
			t.Errorf("DeriveID(%q, %d, %d) = %s, want %s", c.source, c.epoch, c.number, got, c.want)
		}
	}
}
