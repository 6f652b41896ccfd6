package packed

import (
	"strings"
	"testing"
)

// A record with a number or an epoch but no source is refused wherever it
// comes in a frame: after a sourceless record it could otherwise follow as
// a plain one, which would drop the number without a word.
func TestANumberWithoutASourceIsRefusedAfterASourcelessRecord(t *testing.T) {
	for _, r := range []Record{
		{Topic: "t", Payload: []byte("b"), Number: 5},
		{Topic: "t", Payload: []byte("b"), Epoch: 2},
	} {
		var e Encoder
		if err := e.Append(&Record{Topic: "t", Payload: []byte("a")}); err != nil {
			t.Fatal(err)
		}
		err := e.Append(&r)
		if err == nil || isFull(err) || !strings.Contains(err.Error(), "without a source") {
			t.Errorf("number %d epoch %d: %v, want the record refused", r.Number, r.Epoch, err)
		}
		if e.Count() != 1 {
			t.Errorf("number %d epoch %d: %d records in the frame, want 1", r.Number, r.Epoch, e.Count())
		}
	}
}
