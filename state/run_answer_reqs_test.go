package state

import (
	"slices"
	"testing"
)

// A batch by number answers exactly its publishes' reqs, even when the
// shell's reqs are not ascending: a run answer only grows by the next req.
func TestARunAnswerByNumberCoversOnlyConsecutiveReqs(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	reqs := []uint64{10, 11, 3, 4, 11}
	pubs := make([]Published, len(reqs))
	for i, r := range reqs {
		pubs[i] = Published{Req: r, Topic: "t", Payload: []byte{byte(i)}}
	}
	effs := h.step(&PublishedBatch{Pubs: pubs, ByNumber: true})
	var answered []uint64
	for _, c := range of[*CompletePublish](effs) {
		answered = append(answered, c.Req)
	}
	for _, r := range of[*CompletePublishRun](effs) {
		for k := range r.N {
			answered = append(answered, r.First+uint64(k))
		}
	}
	if !slices.Equal(answered, reqs) {
		t.Fatalf("answered %v, want %v:\n%s", answered, reqs, describe(effs))
	}
}
