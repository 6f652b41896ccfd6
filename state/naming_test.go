package state

import "testing"

// batch is a PublishedBatch of n publishes to topic.
func (h *harness) batch(topic string, n int, byNumber bool) []Effect {
	pubs := make([]Published, n)
	for i := range pubs {
		h.req++
		pubs[i] = Published{Req: h.req, Topic: topic, Payload: []byte{byte(i)}}
	}
	return h.step(&PublishedBatch{Pubs: pubs, ByNumber: byNumber})
}

// A message that only streams by number see is never given its id string:
// they read IDNum, and the id it names is the documented one.
func TestStreamsByNumberGetMessagesUnnamed(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100, ByNumber: true})
	effs := h.batch("t", 3, true)
	ds := of[*Deliver](effs)
	if len(ds) != 3 {
		t.Fatalf("want 3 deliveries, got:\n%s", describe(effs))
	}
	for i, d := range ds {
		m := d.Out.Msg
		if m.ID != "" {
			t.Errorf("message %d was named %s for a stream by number", i, m.ID)
		}
		if want := derived(h.n.ID(), uint64(i+1)); m.IDNum != uint64(i+1) || m.MessageID() != want {
			t.Errorf("message %d: number %d, id %s; want %d, %s", i, m.IDNum, m.MessageID(), i+1, want)
		}
	}
	// The answers, by number, are one run: no ids, no counts.
	if cs, rs := of[*CompletePublish](effs), of[*CompletePublishRun](effs); len(cs) != 0 || len(rs) != 1 || rs[0].First != h.req-2 || rs[0].N != 3 {
		t.Errorf("answers by number: want one run of the 3 requests:\n%s", describe(effs))
	}
}

// Whoever reads the string gets it, rendered once and the same as the
// number derives: a v1 stream, a replay (sent as a v1 event even on a
// packed stream), a peer, and a v1 publisher's answer.
func TestMessagesAreNamedForWhoReadsTheirIDs(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("peer", "t")
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100, ByNumber: true})
	effs := h.batch("t", 2, true)
	if ps := of[*Push](effs); len(ps) != 2 || ps[0].Envelope().ID != derived(h.n.ID(), 1) || ps[1].Envelope().ID != derived(h.n.ID(), 2) {
		t.Errorf("pushes to the peer are not named:\n%s", describe(effs))
	}

	// A packed publisher's messages to a v1 stream, with no peer.
	h = newHarness(t, "n1")
	h.start()
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100, ByNumber: true})
	h.subscribeReq(&Subscribed{Stream: 2, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100})
	effs = h.batch("t", 2, true)
	if ds := of[*Deliver](effs); len(ds) != 4 {
		t.Fatalf("want 4 deliveries, got:\n%s", describe(effs))
	}
	for _, d := range of[*Deliver](effs) {
		if want := derived(h.n.ID(), d.Out.Msg.IDNum); d.Out.Msg.ID != want {
			t.Errorf("stream %d got id %q, want %s", d.Stream, d.Out.Msg.ID, want)
		}
	}
	effs = h.batch("t", 2, false)
	for i, c := range of[*CompletePublish](effs) {
		if want := derived(h.n.ID(), uint64(i+3)); c.Result.MessageID != want {
			t.Errorf("answer %d names %q, want %s", i, c.Result.MessageID, want)
		}
	}

	// Published by number to a packed stream only, then replayed to
	// another packed stream: replays go as v1 events, named.
	h2 := newHarness(t, "n2")
	h2.start()
	h2.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"u"}, Policy: PolicyDefault, Credit: 100, ByNumber: true})
	h2.batch("u", 2, true)
	effs = h2.step(&Resumed{Stream: 3, Patterns: []string{"u"}, LastSeq: map[string]uint64{"u": 0}, Mode: RecoverReplay, Credit: 100, ByNumber: true})
	replays := 0
	for _, d := range of[*Deliver](effs) {
		if d.Out.Kind != OutReplay {
			continue
		}
		replays++
		if want := derived(h2.n.ID(), d.Out.Msg.IDNum); d.Out.Msg.ID != want {
			t.Errorf("replay named %q, want %s", d.Out.Msg.ID, want)
		}
	}
	if replays != 2 {
		t.Fatalf("want 2 replays, got:\n%s", describe(effs))
	}
}

// Ids named out of order, as replays and late readers name them, are the
// ids taken in order.
func TestIDsNamedOutOfOrderMatchTheirNumbers(t *testing.T) {
	p := newIDPool("n1")
	q := newIDPool("n1")
	var want []string
	for range 200 {
		id, _ := p.take()
		want = append(want, id)
	}
	for _, k := range []uint64{150, 3, 64, 65, 200, 1, 129, 128} {
		if got := q.name(k); got != want[k-1] {
			t.Errorf("name(%d) = %s, want %s", k, got, want[k-1])
		}
	}
}

// Publishes by number that a block-policy subscription holds are not in
// the run answer: each is answered alone once it is let in.
func TestHeldPublishesByNumberAreAnsweredAlone(t *testing.T) {
	h := newHarness(t, "n1", func(c *Config) { c.QueueLimit = 2 })
	h.start()
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: Block, Credit: 0, ByNumber: true})
	effs := h.batch("t", 5, true)
	first := h.req - 4
	if rs := of[*CompletePublishRun](effs); len(rs) != 1 || rs[0].First != first || rs[0].N != 2 || len(of[*CompletePublish](effs)) != 0 {
		t.Fatalf("want a run answering the 2 queued publishes and nothing else:\n%s", describe(effs))
	}
	effs = h.step(&CreditGranted{Stream: 1, N: 10})
	cs := of[*CompletePublish](effs)
	if len(cs) != 3 || len(of[*CompletePublishRun](effs)) != 0 {
		t.Fatalf("want the 3 held publishes answered alone:\n%s", describe(effs))
	}
	for i, c := range cs {
		if c.Req != first+2+uint64(i) || c.Err != nil {
			t.Errorf("answer %d: %s", i, c)
		}
	}
}
