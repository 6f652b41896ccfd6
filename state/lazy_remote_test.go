package state

import "testing"

// pushByNumber is a push of messages seqs on topic from src, whose ids go
// as their numbers only (as a packed push brings them) or rendered.
func pushByNumber(src, topic string, rendered bool, seqs ...uint64) *PushReceived {
	envs := make([]Envelope, len(seqs))
	for i, s := range seqs {
		envs[i] = Envelope{IDNum: s, Topic: topic, Payload: []byte("p"), Source: src, SourceSeq: s, PrevSeq: s - 1}
		if rendered {
			envs[i].ID = derived(src, s)
		}
	}
	return &PushReceived{From: src + ":5671", Envs: envs}
}

// A peer's message pushed by number alone is taken, reaches a stream by
// number unnamed, and a v1 stream with the id its number derives.
func TestPushedByNumberAloneIsNamedOnlyForWhoReadsTheID(t *testing.T) {
	for _, byNumber := range []bool{true, false} {
		h := newHarness(t, "n1")
		h.start()
		h.sync("n2", "other")
		h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100, ByNumber: byNumber})
		effs := h.step(pushByNumber("n2", "t", false, 1, 2))
		if as := of[*AnswerPush](effs); len(as) != 1 || as[0].Errs != nil {
			t.Fatalf("by number %v: the push was not taken whole:\n%s", byNumber, describe(effs))
		}
		ds := of[*Deliver](effs)
		if len(ds) != 2 {
			t.Fatalf("by number %v: want 2 deliveries, got:\n%s", byNumber, describe(effs))
		}
		for i, d := range ds {
			m, want := d.Out.Msg, derived("n2", uint64(i+1))
			if named := m.ID != ""; named == byNumber {
				t.Errorf("by number %v: message %d has id %q", byNumber, i, m.ID)
			}
			if m.MessageID() != want || m.IDNum != uint64(i+1) {
				t.Errorf("by number %v: message %d is %s, number %d; want %s", byNumber, i, m.MessageID(), m.IDNum, want)
			}
		}
	}
}

// A message pushed by number and again with its id rendered (or the
// other way round) is one message: the second is a duplicate.
func TestAPushByNumberAndByIDAreOneMessage(t *testing.T) {
	for _, firstRendered := range []bool{false, true} {
		h := newHarness(t, "n1")
		h.start()
		h.sync("n2", "other")
		h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 100})
		h.step(pushByNumber("n2", "t", firstRendered, 1, 2, 3))
		before := h.n.counters.Duplicates
		effs := h.step(pushByNumber("n2", "t", !firstRendered, 2, 3))
		if ds := of[*Deliver](effs); len(ds) != 0 || h.n.counters.Duplicates != before+2 {
			t.Errorf("first rendered %v: the second push delivered %d and counted %d duplicates, want none and 2:\n%s",
				firstRendered, len(ds), h.n.counters.Duplicates-before, describe(effs))
		}
	}
}

// A pushed message with neither an id nor a number is refused.
func TestAPushWithNeitherIDNorNumberIsRefused(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "other")
	ev := pushByNumber("n2", "t", false, 1)
	ev.Envs[0].IDNum = 0
	effs := h.step(ev)
	if as := of[*AnswerPush](effs); len(as) != 1 || len(as[0].Errs) != 1 || CodeOf(as[0].Errs[0]) != Invalid {
		t.Fatalf("want the message refused as invalid:\n%s", describe(effs))
	}
}

// Pushes by number from sources taken in turn are each one message, and
// the window derives each source's prefix once.
func TestInterleavedSourcesByNumberDeriveEachPrefixOnce(t *testing.T) {
	var d dedupWindow
	d.init(64)
	for round := range 3 {
		for _, src := range []string{"a", "b", "c"} {
			for k := range uint64(2) {
				num := uint64(round)*2 + k + 1
				if !d.addDerived(src, num) || d.addDerived(src, num) || d.add(derived(src, num), num) {
					t.Fatalf("%s#%d: not taken once, or taken again as its rendered id", src, num)
				}
			}
		}
	}
	if len(d.prefixes) != 3 {
		t.Fatalf("%d prefixes derived for 3 sources", len(d.prefixes))
	}
}
