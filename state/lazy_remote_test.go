package state

import (
	"runtime"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
)

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

// A peer's ids, named for a stream that is not by number, are the ones
// their numbers derive, whatever order the numbers come in: runs that
// follow one another, a source's numbers seen sparsely (this node wants
// one topic of many), going back, sources taken in turn, numbers that
// fill every digit.
func TestPeersIDsAreNamedAsTheirNumbersDerive(t *testing.T) {
	var p peerNames
	seqs := map[string][]uint64{
		"run":    {1, 2, 3, 63, 64, 65, 66, 127, 128, 129, 200},
		"sparse": {5, 105, 205, 305, 306, 307, 1000, 1001},
		"back":   {500, 501, 502, 10, 11, 499, 503, 9},
		"wide":   {packed.MaxNumber - 2, packed.MaxNumber - 1, packed.MaxNumber, 0x0123456789ab},
	}
	for round := range 2 {
		for _, src := range []string{"run", "sparse", "back", "wide", "3bf98798-cae9-4950-8a8c-6d7f8d485abc"} {
			for _, num := range append(seqs[src], uint64(round)*70+1, uint64(round)*70+2) {
				if got, want := p.name(src, num), packed.DeriveID(src, 0, num).String(); got != want {
					t.Fatalf("%s#%d named %s, want %s", src, num, got, want)
				}
			}
		}
	}
}

// Naming a peer's messages costs no hash a message: a run of numbers is
// rendered a block at a time, and a sparse one an id at a time, never a
// block for each (each source's prefix is hashed once).
func TestNamingPeersMessagesRendersBlocksForRunsAndSinglesForGaps(t *testing.T) {
	n := newHarness(t, "n1").n
	msgs := make([]Message, 640*11)
	for i := range msgs {
		msgs[i].Source, msgs[i].IDNum = "n2", uint64(i+1)
	}
	next := 0
	if a := testing.AllocsPerRun(10, func() { // and once to warm up
		for range 640 {
			n.named(&msgs[next])
			next++
		}
	}); a > 11 {
		t.Errorf("naming 640 consecutive ids allocated %.0f times, want one block of %d at most every %d", a, idsPerBlock, idsPerBlock)
	}
	var p peerNames
	num := uint64(1)
	p.name("n2", num)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 1000 {
		num += 100
		p.name("n2", num)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 1000; per > 256 {
		t.Errorf("naming ids 100 apart allocated %d bytes each, want one id's (a block is %d)", per, 36*idsPerBlock)
	}
}

// A push's consecutive messages go to a stream by number in runs, and a
// run is one timestamp: a message stamped otherwise starts a new one.
func TestARunOfPushedMessagesIsOneTimestamp(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.sync("n2", "other")
	h.subscribeReq(&Subscribed{Stream: 1, Patterns: []string{"t"}, Policy: PolicyDefault, Credit: 1000, ByNumber: true, ReportsSent: true})
	seqs := make([]uint64, 40)
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	ev := pushByNumber("n2", "t", false, seqs...)
	for i := range ev.Envs {
		ev.Envs[i].TimestampMs = 1000 + int64(i/10) // a new stamp every 10
	}
	effs := h.step(ev)
	longest, total := 0, 0
	for _, d := range of[*Deliver](effs) {
		r := d.Run()
		for j := range r.Len() {
			if r.At(j).TimestampMs != r.At(0).TimestampMs {
				t.Fatalf("a run of %d mixes timestamps %d and %d:\n%s", r.Len(), r.At(0).TimestampMs, r.At(j).TimestampMs, describe(effs))
			}
		}
		longest, total = max(longest, r.Len()), total+r.Len()
	}
	if total != 40 || longest < 2 {
		t.Fatalf("%d messages handed out, the longest run %d; want 40, in runs", total, longest)
	}
}
