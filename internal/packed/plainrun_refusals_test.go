package packed

import (
	"testing"
)

// plainRec is one plain record on topic 0: length, no flags, index 0, payload.
func plainRec(payload string) []byte {
	return append([]byte{byte(2 + len(payload)), 0, 0}, payload...)
}

// decodes checks e's frame decodes under e's limits and returns its records.
func decodes(t *testing.T, e *Encoder) []Record {
	t.Helper()
	d := Decoder{Limits: e.Limits}
	recs, err := decodeAll(&d, e.AppendFrame(nil))
	if err != nil {
		t.Fatalf("the frame does not decode: %v", err)
	}
	return recs
}

// After a record without a sequence AppendPlainRun takes nothing, and the
// topic's later unsequenced records keep sequence 0.
func TestAPlainRunDoesNotFollowAnUnsequencedRecord(t *testing.T) {
	var e Encoder
	if err := e.Append(&Record{Topic: "t", Payload: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.AppendPlainRun(plainRec("x"), 1); k != 0 {
		t.Errorf("took %d records after an unsequenced one", k)
	}
	if err := e.Append(&Record{Topic: "t", Payload: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	for i, r := range decodes(t, &e) {
		if r.Seq != 0 {
			t.Errorf("record %d has sequence %d, want 0", i, r.Seq)
		}
	}
}

// After a record whose source has no number yet (an explicit id) a plain
// run, which would be numbered from it, is not taken.
func TestAPlainRunDoesNotFollowASourceWithoutANumber(t *testing.T) {
	var e Encoder
	if err := e.Append(&Record{Topic: "t", Seq: 1, Source: "n1", ID: "x-1"}); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.AppendPlainRun(plainRec("x"), 1); k != 0 {
		t.Errorf("took %d records after an explicit id", k)
	}
	decodes(t, &e)
}

// A plain run whose numbers would pass MaxNumber is not taken.
func TestAPlainRunIsNotTakenPastTheLastNumber(t *testing.T) {
	var e Encoder
	if err := e.Append(&Record{Topic: "t", Seq: 1, Source: "n1", Number: MaxNumber - 1}); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.AppendPlainRun(append(plainRec("x"), plainRec("y")...), 2); k != 0 {
		t.Errorf("took %d records numbered up to %d", k, MaxNumber-1+uint64(k))
	}
	decodes(t, &e)
}

// A record whose two-byte length is overlong (a last byte of 0) is not taken.
func TestAPlainRunRefusesAnOverlongTwoByteLength(t *testing.T) {
	var e Encoder
	if err := e.Append(&Record{Topic: "t", Seq: 1, Payload: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.AppendPlainRun([]byte{0x83, 0x00, 0, 0, 'x'}, 1); k != 0 {
		t.Errorf("took %d records with an overlong length", k)
	}
	decodes(t, &e)
}

// A record whose payload passes MaxPayloadBytes is not taken.
func TestAPlainRunRefusesAPayloadPastTheLimit(t *testing.T) {
	e := Encoder{Limits: Limits{MaxPayloadBytes: 1}}
	if err := e.Append(&Record{Topic: "t", Seq: 1, Payload: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	if k, _ := e.AppendPlainRun(plainRec("yy"), 1); k != 0 {
		t.Errorf("took %d records with a 2-byte payload, limit 1", k)
	}
	if k, _ := e.AppendPlainRun(plainRec("y"), 1); k != 1 {
		t.Errorf("took %d records with a 1-byte payload, limit 1; want 1", k)
	}
	decodes(t, &e)
}
