package packed

import (
	"strings"
	"testing"
)

// A record without a sequence but with a previous sequence is refused even
// when it follows a record it could continue as a plain one.
func TestAPreviousSequenceWithoutASequenceIsRefusedAfterAnUnsequencedRecord(t *testing.T) {
	var e Encoder
	if err := e.Append(&Record{Topic: "t", Payload: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	err := e.Append(&Record{Topic: "t", Payload: []byte("b"), PrevSeq: 1})
	if err == nil || isFull(err) || !strings.Contains(err.Error(), "previous sequence 1 on a record without a sequence") {
		t.Errorf("%v, want the record refused", err)
	}
	if e.Count() != 1 {
		t.Errorf("%d records in the frame, want 1", e.Count())
	}
}
