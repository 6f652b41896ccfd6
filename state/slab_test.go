package state

import (
	"fmt"
	"testing"
)

// TestPushedMessagesAreAllocatedBySlab: the messages a push brings are
// made a slab at a time, not one allocation each: runMsgsPerSlab at a time
// along a run of one topic, whose messages are let go in order, and
// msgsPerSlab where topics alternate, so that one message held keeps few
// others alive.
func TestPushedMessagesAreAllocatedBySlab(t *testing.T) {
	const frame, pushes = 64, 12
	for _, c := range []struct {
		name   string
		topics []string // envelope j's topic is topics[j%len(topics)]
		slab   int      // messages a slab holds
	}{
		{"one topic", []string{"slab/t"}, runMsgsPerSlab},
		{"alternating topics", []string{"slab/a", "slab/b"}, msgsPerSlab},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, "slab")
			h.start()
			const src = "5f0c3d2e-8a41-4b7e-9c15-2d6f7a8b9c0d"
			h.sync(src, "other/+")
			h.n.Step(h.now, &Subscribed{Stream: 1, Patterns: []string{"slab/+"}, Policy: PolicyDefault, Credit: 1 << 30})
			batches := make([]*PushReceived, pushes)
			seqs := map[string]uint64{}
			id := uint64(0)
			for i := range batches {
				envs := make([]Envelope, frame)
				for j := range envs {
					topic := c.topics[j%len(c.topics)]
					seqs[topic]++
					id++
					seq := seqs[topic]
					envs[j] = Envelope{ID: fmt.Sprintf("%s%012x", src[:24], id), IDNum: id, Topic: topic, Payload: []byte("p"),
						TimestampMs: h.now.WallMs, Source: src, SourceSeq: seq, PrevSeq: seq - 1}
				}
				batches[i] = &PushReceived{From: src + ":5671", Req: uint64(i + 1), Envs: envs}
			}
			h.n.Step(h.now, batches[0]) // the effect arrays grow here
			next := 1
			allocs := testing.AllocsPerRun(pushes-2, func() {
				effs := h.n.Step(h.now, batches[next])
				if len(effs) != frame+1 {
					t.Fatalf("push %d: %d effects, want %d deliveries and the answer", next, len(effs), frame+1)
				}
				next++
			})
			got := cap(h.n.slab)
			if h.n.remote != nil { // a run's: counted, used again (slab.go)
				got = len(h.n.remote.msgs)
			}
			if got != c.slab {
				t.Errorf("slabs of %d messages, want %d", got, c.slab)
			}
			if most := float64(frame/c.slab + 2); allocs > most {
				t.Fatalf("a push of %d messages allocates %v times, want at most %v", frame, allocs, most)
			}
		})
	}
}

// TestARunsMessagesAreAllocatedBySlab: a frame of local publishes to one
// topic makes its messages runMsgsPerSlab at a time.
func TestARunsMessagesAreAllocatedBySlab(t *testing.T) {
	const frame = 128
	h := newHarness(t, "slab")
	h.start()
	h.n.Step(h.now, &Subscribed{Stream: 1, Patterns: []string{"slab/+"}, Policy: PolicyDefault, Credit: 1 << 40})
	pubs := make([]Published, frame)
	for i := range pubs {
		pubs[i] = Published{Topic: "slab/t", Payload: []byte("p")}
	}
	req := uint64(0)
	step := func() {
		for i := range pubs {
			req++
			pubs[i].Req = req
		}
		effs := h.n.Step(h.now, &PublishedBatch{Pubs: pubs})
		if len(effs) < frame+1 {
			t.Fatalf("%d effects, want %d deliveries and the answer", len(effs), frame)
		}
	}
	step() // the effect arrays grow here
	allocs := testing.AllocsPerRun(8, step)
	if most := float64(frame/32 + 4); allocs > most {
		t.Fatalf("a run of %d publishes allocates %v times, want at most %v", frame, allocs, most)
	}
}

// TestTheSlabFreedLongestAgoIsUsedFirst: the free list is first in first
// out (slabPool), so a slab another core was just reading is not written
// to at once.
func TestTheSlabFreedLongestAgoIsUsedFirst(t *testing.T) {
	h := newHarness(t, "slab")
	h.start()
	a, b, c := h.n.runSlab(), h.n.runSlab(), h.n.runSlab()
	for _, s := range []*msgSlab{a, b, c} {
		s.holds = 1
		h.n.releaseSlab(s)
	}
	if got := []*msgSlab{h.n.runSlab(), h.n.runSlab()}; got[0] != a || got[1] != b {
		t.Fatal("the slabs freed first were not the first used again")
	}
	h.n.releaseSlab(func() *msgSlab { s := h.n.runSlab(); s.holds = 1; return s }()) // c, back at the end
	if h.n.runSlab() != c {
		t.Fatal("the only free slab was not used again")
	}
	if h.n.slabs.free != nil || h.n.slabs.last != nil || h.n.slabs.n != 0 {
		t.Fatalf("free list not empty: %d", h.n.slabs.n)
	}
}
