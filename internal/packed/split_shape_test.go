package packed

import "testing"

// An id that differs from a derived one in the last digit of its fourth
// group is not derived from that source.
func TestIDSplitterComparesTheWholePrefix(t *testing.T) {
	var s IDSplitter
	id := DeriveID("n1", 0, 5).String()
	if n, ok := s.Split("n1", id); !ok || n != 5 {
		t.Fatalf("Split(%s) = %d, %v; want 5, true", id, n, ok)
	}
	c := byte('0')
	if id[22] == '0' {
		c = '1'
	}
	other := id[:22] + string(c) + id[23:]
	if n, ok := s.Split("n1", other); ok {
		t.Errorf("Split(%s) = %d, true; it is not derived from n1", other, n)
	}
}

// IDNumber takes lowercase hex digits only.
func TestIDNumberRefusesANonHexDigit(t *testing.T) {
	for _, id := range []string{"807d4ebc-93b8-4504-a95c-00000000000g", "807d4ebc-93b8-4504-a95c-00000000000A"} {
		if n, ok := IDNumber(id); ok {
			t.Errorf("IDNumber(%s) = %d, true", id, n)
		}
	}
}
