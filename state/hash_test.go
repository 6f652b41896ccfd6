package state

import (
	"hash/crc64"
	"testing"
)

func TestTopicStateHashIsCRC64OverSortedPatternsEachEndingInNewline(t *testing.T) {
	want := crc64.Checksum([]byte("a/#\nb\nc/+/d\n"), crc64.MakeTable(crc64.ECMA))
	for _, in := range [][]string{
		{"a/#", "b", "c/+/d"},
		{"c/+/d", "b", "a/#"},
		{"b", "a/#", "b", "c/+/d", "a/#"}, // duplicates count once
	} {
		if got := TopicStateHash(in); got != want {
			t.Errorf("TopicStateHash(%q) = %016x, want %016x", in, got, want)
		}
	}
}

func TestEmptyPatternSetHashesToZero(t *testing.T) {
	if h := TopicStateHash(nil); h != 0 {
		t.Fatalf("empty hash %016x", h)
	}
}

func TestNodeHashFollowsSubscriptions(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 1, "b", "a/#")
	h.subscribe(2, 1, "a/#")
	if got, want := h.n.Hash(), TopicStateHash([]string{"a/#", "b"}); got != want {
		t.Fatalf("hash %016x, want %016x", got, want)
	}
	h.step(&StreamClosed{Stream: 1})
	if got, want := h.n.Hash(), TopicStateHash([]string{"a/#"}); got != want {
		t.Fatalf("after close: hash %016x, want %016x (a/# still held by stream 2)", got, want)
	}
	h.step(&StreamClosed{Stream: 2})
	if h.n.Hash() != 0 {
		t.Fatalf("after all closed: hash %016x, want 0", h.n.Hash())
	}
}
