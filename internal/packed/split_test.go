package packed

import (
	"fmt"
	"testing"
)

// A derived id splits back into its number; any other id, or the id of
// another source, does not, so an encoder sends it whole.
func TestIDSplitterFindsDerivedIDsOnly(t *testing.T) {
	var s IDSplitter
	for _, n := range []uint64{1, 2, 0x42, MaxNumber} {
		id := DeriveID("n1", 0, n).String()
		got, ok := s.Split("n1", id)
		if !ok || got != n {
			t.Fatalf("Split(n1, %s) = %d, %v; want %d, true", id, got, ok, n)
		}
		if _, ok := s.Split("n2", id); ok {
			t.Fatalf("Split(n2, %s) claims n1's id", id)
		}
	}
	for _, id := range []string{
		"", "x-1", DeriveID("n1", 1, 5).String(), DeriveID("n1", 0, 0).String(),
		"807d4ebc-93b8-4504-a95c-00000000000G", "807d4ebc-93b8-4504-a95c-00000000000A",
		"c4f5a586-56ee-4510-9dce-c3ad077dec6c",
	} {
		if n, ok := s.Split("n1", id); ok {
			t.Fatalf("Split(n1, %q) = %d, true; want false", id, n)
		}
	}
	// More sources than the splitter remembers still split right.
	for i := range 3 * splitterEntries {
		src := fmt.Sprintf("src-%d", i%(splitterEntries+3))
		if n, ok := s.Split(src, DeriveID(src, 0, uint64(i+1)).String()); !ok || n != uint64(i+1) {
			t.Fatalf("Split(%s) = %d, %v", src, n, ok)
		}
	}
}

// TestIDNumberReadsTheLast12Digits: a derived id gives back its number;
// any other 36-character id of the shape gives its last 12 digits; other
// shapes give nothing.
func TestIDNumberReadsTheLast12Digits(t *testing.T) {
	for _, n := range []uint64{0, 1, 0xabc, 1<<48 - 1} {
		if got, ok := IDNumber(DeriveID("node-a", 0, n).String()); !ok || got != n {
			t.Fatalf("IDNumber of the id of %#x: %#x, %v", n, got, ok)
		}
	}
	for _, id := range []string{"", "m1", "123e4567-e89b-42d3-a456-42661417400G", "123e4567-e89b-42d3-a456-42661417400", "123e4567-e89b-42d3-a456x426614174000", "123e4567-e89b-42d3-a456-42661417400A"} {
		if n, ok := IDNumber(id); ok {
			t.Fatalf("IDNumber(%q) = %#x, want none", id, n)
		}
	}
	if n, ok := IDNumber("123e4567-e89b-42d3-a456-426614174000"); !ok || n != 0x426614174000 {
		t.Fatalf("a random UUID's last digits: %#x, %v", n, ok)
	}
}
