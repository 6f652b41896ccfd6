package state

import "testing"

// An id read out of a rendered id (add) changes the prefix the window
// hashes numbers under; a source's ID-less message that follows (addDerived)
// must be hashed under its own prefix again, not the other source's, or it
// is taken for that source's message of the same number.
func TestAnIDLessMessageAfterAnotherSourcesIDIsNotTakenForItsDuplicate(t *testing.T) {
	var d dedupWindow
	d.init(16)
	if !d.addDerived("a", 1) {
		t.Fatal("a#1 taken for a duplicate")
	}
	if !d.add(derived("b", 5), 0) {
		t.Fatal("b#5 taken for a duplicate")
	}
	if !d.addDerived("a", 5) {
		t.Fatal("a#5, pushed without its id after b#5, taken for a duplicate of b#5")
	}
	if d.addDerived("a", 5) || d.add(derived("a", 5), 0) || d.add(derived("b", 5), 0) {
		t.Fatal("a#5 or b#5, inside the window, taken again")
	}
}

// A number given with an id that is not of the derived shape (a shell's
// custom id) does not make the window read the id as a derived one: the
// id is remembered whole, so two different ids that share a number are
// both new, and each is caught when it comes again.
func TestAnIDNotOfTheDerivedShapeIsRememberedWholeWhateverItsNumber(t *testing.T) {
	var d dedupWindow
	d.init(16)
	ids := []string{"order-2024-0001-aaaaaaaaaa-x", "order-2024-0001-aaaaaaaaaa-y", "m1"}
	for _, id := range ids {
		if !d.add(id, 7) {
			t.Fatalf("%s, given with number 7, taken for a duplicate", id)
		}
	}
	for _, id := range ids {
		if d.add(id, 7) {
			t.Fatalf("%s, inside the window, taken again", id)
		}
	}
}
