package state

import (
	"bytes"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
)

// plainRecords is what a shell's frame holds for msgs after the one
// before them: each one's plain record.
func plainRecords(msgs []Message) []byte {
	var b []byte
	for i := range msgs {
		b = packed.AppendPlainHeader(b, len(msgs[i].Payload))
		b = append(b, msgs[i].Payload...)
	}
	return b
}

// A run's messages keep their payloads as the packed records they follow
// one another with, and say which continue the one before plainly: a slab
// at a time, not across a message with a field, nor in a run that is not
// numbered here or whose payloads were not copied.
func TestARunsMessagesKeepTheirPlainRecords(t *testing.T) {
	h := newHarness(t, "plain")
	h.start()
	h.step(&Subscribed{Stream: 1, Patterns: []string{"r/#"}, Policy: PolicyDefault, Credit: 1 << 20, ReportsSent: true})
	msgs := handed(h.runBatch("r/t", 2*runMsgsPerSlab), 1)
	for _, first := range []int{0, 5, runMsgsPerSlab} {
		m := msgs[first]
		slabEnd := (first/runMsgsPerSlab + 1) * runMsgsPerSlab
		run := m.PlainAfter()
		if len(run.Msgs) != slabEnd-first-1 || &run.Msgs[0] != msgs[first+1] {
			t.Fatalf("after message %d: %d plain, want the %d after it in its slab", first, len(run.Msgs), slabEnd-first-1)
		}
		for k := 1; k <= len(run.Msgs); k++ {
			if got, want := run.Records(k), plainRecords(run.Msgs[:k]); !bytes.Equal(got, want) {
				t.Fatalf("after message %d, records of %d:\n%x\nwant\n%x", first, k, got, want)
			}
			if q := &run.Msgs[k-1]; q.Seq != m.Seq+uint64(k) || q.IDNum != m.IDNum+uint64(k) || q.TimestampMs != m.TimestampMs {
				t.Fatalf("message %d after %d: seq %d, number %d, ts %d", k, first, q.Seq, q.IDNum, q.TimestampMs)
			}
		}
	}
	if run := msgs[runMsgsPerSlab-1].PlainAfter(); len(run.Msgs) != 0 {
		t.Errorf("the last of a slab has %d plain after it", len(run.Msgs))
	}

	// A message with a field ends the plain stretch before it and starts
	// none: the one after it continues only it.
	pubs := make([]Published, runMsgsPerSlab)
	for i := range pubs {
		h.req++
		pubs[i] = Published{Req: h.req, Topic: "r/u", Payload: []byte{byte(i)}}
	}
	pubs[10].Extras = &Extras{Correlation: "c"}
	msgs = handed(h.step(&PublishedBatch{Pubs: pubs, Borrowed: true}), 1)
	if n := len(msgs[0].PlainAfter().Msgs); n != 9 {
		t.Errorf("before a message with a field: %d plain after the first, want 9", n)
	}
	if n := len(msgs[10].PlainAfter().Msgs); n != runMsgsPerSlab-11 {
		t.Errorf("after a message with a field: %d plain after it, want %d", n, runMsgsPerSlab-11)
	}

	// Payloads the node need not copy keep no records.
	msgs = handed(h.step(&PublishedBatch{Pubs: freshPubs(h, "r/v", runMsgsPerSlab)}), 1)
	if n := len(msgs[0].PlainAfter().Msgs); n != 0 {
		t.Errorf("a batch not borrowed: %d plain", n)
	}
}

func freshPubs(h *harness, topic string, n int) []Published {
	pubs := make([]Published, n)
	for i := range pubs {
		h.req++
		pubs[i] = Published{Req: h.req, Topic: topic, Payload: []byte{byte(i)}}
	}
	return pubs
}
