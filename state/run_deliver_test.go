package state

import (
	"fmt"
	"testing"
)

// A frame's publishes reach a stream by number in runs (Deliver.More):
// one Deliver for each slab's worth of messages handed out in a row, each
// message of it where At says, in order, as one by one would hand them.
func TestAFramesPublishesGoToAStreamByNumberInRuns(t *testing.T) {
	for _, byNumber := range []bool{true, false} {
		t.Run(fmt.Sprint("by-number=", byNumber), func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.step(&Subscribed{Stream: 1, Patterns: []string{"a"}, Policy: PolicyDefault, Credit: 1000, ByNumber: byNumber, ReportsSent: true})
			n := 2*runMsgsPerSlab + 6 // two full slabs, then a tail made apart
			pubs := make([]Published, n)
			for i := range pubs {
				h.req++
				pubs[i] = Published{Req: h.req, Topic: "a", Payload: []byte(fmt.Sprint("m", i))}
			}
			checkRuns(t, h.step(&PublishedBatch{Pubs: pubs}), n, byNumber)
			if s := h.n.Subscriptions()[0]; s.Credit != 1000-1-n { // and its info
				t.Fatalf("credit %d after %d delivered, want %d", s.Credit, n, 1000-1-n)
			}
		})
	}
}

// A queue that a frame filled drains in runs too, as credit comes: one
// Deliver for each slab's worth of its messages in a row, the rest alone,
// all in order; a stream not by number gets them one by one.
func TestAQueueAFrameFilledDrainsInRuns(t *testing.T) {
	for _, byNumber := range []bool{true, false} {
		t.Run(fmt.Sprint("by-number=", byNumber), func(t *testing.T) {
			h := newHarness(t, "n1")
			h.start()
			h.step(&Subscribed{Stream: 1, Patterns: []string{"a"}, Policy: PolicyDefault, QueueLimit: 1000, Credit: 0, ByNumber: byNumber, ReportsSent: true})
			n := 2*runMsgsPerSlab + 6
			pubs := make([]Published, n)
			for i := range pubs {
				h.req++
				pubs[i] = Published{Req: h.req, Topic: "a", Payload: []byte(fmt.Sprint("m", i))}
			}
			if effs := h.step(&PublishedBatch{Pubs: pubs}); len(of[*Deliver](effs)) != 0 {
				t.Fatalf("delivered %d with no credit", len(of[*Deliver](effs)))
			}
			checkRuns(t, h.step(&CreditGranted{Stream: 1, N: 1000}), n, byNumber)
			if s := h.n.Subscriptions()[0]; s.Credit != 1000-1-n || s.Queued != 0 {
				t.Fatalf("credit %d, %d queued after %d delivered, want %d and none", s.Credit, s.Queued, n, 1000-1-n)
			}
		})
	}
}

// checkRuns requires effs to deliver m0..m(n-1) in order: by number, two
// slabs' worth in a run each and the rest alone (the tail of a frame is
// made apart, outside a slab); else one by one.
func checkRuns(t *testing.T, effs []Effect, n int, byNumber bool) {
	t.Helper()
	var got []string
	var runs []int
	for _, d := range of[*Deliver](effs) {
		if d.Out.Kind != OutMessage {
			continue
		}
		runs = append(runs, d.More+1)
		for j := 0; j <= d.More; j++ {
			got = append(got, string(d.At(j).Payload))
		}
	}
	var want []int
	if byNumber {
		want = []int{runMsgsPerSlab, runMsgsPerSlab}
	}
	for sum(want) < n {
		want = append(want, 1)
	}
	if fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Fatalf("deliveries of %v messages, want %v", runs, want)
	}
	for i := range n {
		if got[i] != fmt.Sprint("m", i) {
			t.Fatalf("delivered %v, want m0..m%d in order", got, n-1)
		}
	}
}

func sum(xs []int) (s int) {
	for _, x := range xs {
		s += x
	}
	return s
}

// slabRun publishes a slab's worth of messages to "a" in one batch, by
// number, to a packed subscriber, and returns the first run of at least
// four messages handed out; payload(i) is message i's payload.
func slabRun(t *testing.T, payload func(i int) []byte) Run {
	t.Helper()
	h := newHarness(t, "n1")
	h.start()
	h.step(&Subscribed{Stream: 1, Patterns: []string{"a"}, Policy: PolicyDefault, Credit: 1000, ByNumber: true, ReportsSent: true})
	pubs := make([]Published, runMsgsPerSlab)
	for i := range pubs {
		h.req++
		pubs[i] = Published{Req: h.req, Topic: "a", Payload: payload(i)}
	}
	for _, d := range of[*Deliver](h.step(&PublishedBatch{Pubs: pubs, ByNumber: true})) {
		if r := d.Run(); r.Len() >= 4 {
			return r
		}
	}
	t.Fatal("no run handed out")
	return Run{}
}

// A run split in two keeps its bytes: what the head and the rest take of
// a stream's byte credit is what the run took.
func TestASplitRunKeepsItsBytes(t *testing.T) {
	r := slabRun(t, func(i int) []byte { return []byte(fmt.Sprint("m", i)) })
	head, rest := r.Split(3)
	if head.Bytes()+rest.Bytes() != r.Bytes() || head.Len() != 3 || rest.Len() != r.Len()-3 {
		t.Fatalf("split at 3: %d + %d bytes (%d + %d messages), the run had %d (%d)", head.Bytes(), rest.Bytes(), head.Len(), rest.Len(), r.Bytes(), r.Len())
	}
}
