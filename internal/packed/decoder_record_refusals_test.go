package packed

import (
	"bytes"
	"testing"
)

// A plain record (no flags) whose source's next number is 0 is refused: a
// derived id's number is 1..MaxNumber.
func TestAPlainRecordNumberedZeroIsRefused(t *testing.T) {
	refusedAs(t, "base number 0", Limits{}, cat(Version, 1, 0, 1, 2, "n1", 0, 0, 1, 1, "t", 1, 2, 0, 0), 0, false, "number 0 is outside")
}

// A ttl of 2^63 does not fit a signed 64-bit integer and is refused; 2^63-1 is read.
func TestATTLOf2To63IsRefusedAnd2To63Minus1Read(t *testing.T) {
	refusedAs(t, "ttl 2^63", Limits{}, cat(hdr(1, "t"), 13, 0x80, 1, 0, bytes.Repeat([]byte{0x80}, 9), 0x01), 0, false, "does not fit a signed 64-bit integer")
	var d Decoder
	recs, err := decodeAll(&d, cat(hdr(1, "t"), 12, 0x80, 1, 0, bytes.Repeat([]byte{0xff}, 8), 0x7f))
	if err != nil || len(recs) != 1 || recs[0].TTLMs != 1<<63-1 {
		t.Fatalf("ttl 2^63-1: %+v, %v", recs, err)
	}
}

// An explicit message id is held to MaxIDBytes, not another string's limit.
func TestAnExplicitIDPastMaxIDBytesIsRefusedAsALimit(t *testing.T) {
	f := cat(hdr(1, "t"), 7, 0x80, flagID>>7, 0, 3, "abc")
	accepted(t, "3-byte id, limit 3", Limits{MaxIDBytes: 3}, f)
	refusedAs(t, "3-byte id, limit 2", Limits{MaxIDBytes: 2}, f, 0, true, "message id is 3 bytes: the limit is 2")
}

// A plain record after one with queue groups has no queue groups.
func TestAPlainRecordAfterOneWithGroupsHasNone(t *testing.T) {
	var d Decoder
	recs, err := decodeAll(&d, cat(sourced(2), 6, 0x80, flagGroups>>7, 0, 1, 1, "g", 2, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || len(recs[0].Groups) != 1 || recs[0].Groups[0] != "g" {
		t.Fatalf("records: %+v", recs)
	}
	if recs[1].Groups != nil {
		t.Errorf("the plain record has queue groups %q", recs[1].Groups)
	}
}
