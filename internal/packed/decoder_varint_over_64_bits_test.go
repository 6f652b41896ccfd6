package packed

import (
	"bytes"
	"strings"
	"testing"
)

// A varint that holds more than 64 bits is refused, whether its tenth byte
// carries bits past bit 63 or it runs on to an eleventh byte.
func TestAVarintOfMoreThan64BitsIsRefused(t *testing.T) {
	for name, count := range map[string][]byte{
		"tenth byte 0x02":   append(bytes.Repeat([]byte{0xff}, 9), 0x02),
		"tenth byte 0x7f":   append(bytes.Repeat([]byte{0x80}, 9), 0x7f),
		"eleven bytes":      append(bytes.Repeat([]byte{0x80}, 10), 0x01),
		"eleven bytes, max": append(bytes.Repeat([]byte{0xff}, 10), 0x01),
	} {
		var d Decoder
		err := d.Reset(cat(Version, count, 0, 0, 0))
		if err == nil || !strings.Contains(err.Error(), "record count: varint longer than 64 bits") {
			t.Errorf("%s: %v, want the record count refused as longer than 64 bits", name, err)
		}
	}
	// The largest value, 2^64-1, is ten bytes with a last byte of 1: read.
	if v, n := readUvarint(append(bytes.Repeat([]byte{0xff}, 9), 0x01), 0); n != 10 || v != 1<<64-1 {
		t.Errorf("2^64-1: %d, %d", v, n)
	}
}
