package state

import (
	"fmt"
	"strings"
	"testing"
)

// runBytes is the payload and topic bytes of r's messages, counted one by one.
func runBytes(r Run) (b int) {
	for i := range r.Len() {
		b += len(r.At(i).Payload) + len(r.At(i).Topic)
	}
	return b
}

// Every cut of a run, short ones included, takes the byte credit of the
// messages it holds; a cut before the first holds nothing.
func TestEveryCutOfARunCountsTheBytesOfItsMessages(t *testing.T) {
	r := slabRun(t, func(i int) []byte { return []byte(fmt.Sprint(i, strings.Repeat("x", i))) })
	if r.Bytes() != runBytes(r) {
		t.Fatalf("run of %d: %d bytes, its messages hold %d", r.Len(), r.Bytes(), runBytes(r))
	}
	if head, rest := r.Split(0); head != (Run{}) || rest != r {
		t.Fatalf("split at 0: head %+v, rest %+v, want none and the run", head, rest)
	}
	for j := 1; j < r.Len(); j++ {
		head, rest := r.Split(j)
		if head.Len() != j || head.Bytes() != runBytes(head) || rest.Bytes() != runBytes(rest) {
			t.Fatalf("split at %d: head %d messages, %d bytes (holds %d); rest %d bytes (holds %d)",
				j, head.Len(), head.Bytes(), runBytes(head), rest.Bytes(), runBytes(rest))
		}
	}
}
