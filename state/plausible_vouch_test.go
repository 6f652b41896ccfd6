package state

import (
	"testing"
	"time"
)

// Plausibility boundaries and vouching (plausible.go): a number past the
// jump a source may make waits for its source to vouch for it.

// countResends counts the resend requests in effs.
func countResends(effs []Effect) int { return len(of[*RequestResend](effs)) }

// A first number of exactly maxSeqJump is taken as it comes; one more
// must be vouched for.
func TestAFirstNumberOfExactlyTheMaxJumpIsTakenUnvouched(t *testing.T) {
	h := repairHarness(t)
	env := h.envFrom("n2", "t", maxSeqJump)
	env.PrevSeq = 0
	effs := h.pushFrom("n2", env)
	checkLog(t, effs, 1, "msg t#1 m1048576")
	if n := countResends(h.advance(time.Millisecond)); n != 0 {
		t.Fatalf("asked %d times to vouch for a number within the jump", n)
	}
	if c := h.n.Status().Counters; c.SeqsToVouch != 0 {
		t.Fatalf("SeqsToVouch=%d, want 0", c.SeqsToVouch)
	}
}

// A number exactly maxSeqJump past the stream's last is taken as it comes.
func TestANumberExactlyTheMaxJumpPastTheLastIsTakenUnvouched(t *testing.T) {
	h := repairHarness(t)
	checkLog(t, h.pushSeqs(1), 1, "msg t#1 m1")
	env := h.envFrom("n2", "t", 1+maxSeqJump)
	env.PrevSeq = 1
	checkLog(t, h.pushFrom("n2", env), 1, "msg t#2 m1048577")
	if n := countResends(h.advance(time.Millisecond)); n != 0 {
		t.Fatalf("asked %d times to vouch for a number within the jump", n)
	}
}

// A huge number whose source is not a peer of ours (relayed by one) is
// taken as it comes: no one could vouch for it.
func TestAHugeNumberFromASourceThatIsNoPeerIsTakenAsItComes(t *testing.T) {
	h := repairHarness(t)
	env := h.envFrom("stranger", "t", huge)
	env.PrevSeq = 0
	effs := h.pushFrom("n2", env)
	checkLog(t, effs, 1, "msg t#1 m1125899906842624")
	effs = h.advance(time.Second)
	if n := countResends(effs); n != 0 {
		t.Fatalf("asked %d times to vouch", n)
	}
	if c := h.n.Status().Counters; c.Rejected[reasonSequenceImplausible] != 0 || c.SeqsToVouch != 0 {
		t.Fatalf("implausible=%d SeqsToVouch=%d, want 0, 0", c.Rejected[reasonSequenceImplausible], c.SeqsToVouch)
	}
}

// Asking a source to vouch is counted: one number to vouch for, one
// resend requested.
func TestVouchingIsCounted(t *testing.T) {
	h := repairHarness(t)
	env := h.envFrom("n2", "t", huge)
	env.PrevSeq = 0
	h.pushFrom("n2", env)
	h.vouchAnswer(t, h.advance(time.Millisecond), huge)
	c := h.n.Status().Counters
	if c.SeqsToVouch != 1 || c.ResendsRequested != 1 {
		t.Fatalf("SeqsToVouch=%d ResendsRequested=%d, want 1, 1", c.SeqsToVouch, c.ResendsRequested)
	}
}

// quickRepair makes every repair wait at most 200ms, so a source's tries
// all end long before its silence makes it suspect.
func quickRepair(c *Config) { c.RepairMaxDelay = 200 * time.Millisecond }

// pushHuge pushes n2's number huge on t, claiming to follow prev.
func (h *harness) pushHuge(prev uint64) {
	env := h.envFrom("n2", "t", huge)
	env.PrevSeq = prev
	h.pushFrom("n2", env)
}

// failAll answers every resend request with an error until the clock has
// run for d, and returns how many there were.
func (h *harness) failAll(d time.Duration) (asked int, effs []Effect) {
	end := h.now.Mono + d
	for h.now.Mono < end {
		next := h.n.NextDeadline()
		if next > end {
			break
		}
		for _, r := range of[*RequestResend](h.advance(next - h.now.Mono)) {
			asked++
			effs = append(effs, h.step(&ResendCompleted{Call: r.Call, Err: errTest})...)
		}
	}
	return asked, effs
}

// A source that never answers is asked to vouch exactly RepairAttempts
// times; then the number is refused and counted.
func TestAVouchIsAskedRepairAttemptsTimesThenRefused(t *testing.T) {
	h := repairHarness(t, quickRepair)
	h.pushHuge(0)
	asked, _ := h.failAll(time.Minute)
	if asked != h.n.cfg.RepairAttempts {
		t.Fatalf("asked %d times, want %d", asked, h.n.cfg.RepairAttempts)
	}
	if rej := h.n.Status().Counters.Rejected[reasonSequenceImplausible]; rej != 1 {
		t.Fatalf("implausible=%d, want 1", rej)
	}
}

// A failed vouch is asked again only after the backoff, not at once.
func TestAFailedVouchIsAskedAgainOnlyAfterTheBackoff(t *testing.T) {
	h := repairHarness(t)
	h.pushHuge(0)
	r := only[*RequestResend](t, h.advance(0))
	h.step(&ResendCompleted{Call: r.Call, Err: errTest})
	if n := countResends(h.advance(h.n.cfg.RepairDelay - time.Nanosecond)); n != 0 {
		t.Fatalf("asked again %d times before the backoff", n)
	}
}

// A vouch whose answer comes from another process at the source's address
// refuses the number.
func TestAVouchAnsweredByAnotherInstanceIsRefused(t *testing.T) {
	h := repairHarness(t)
	h.pushHuge(0)
	r := only[*RequestResend](t, h.advance(0))
	effs := h.step(&ResendCompleted{Call: r.Call, Reply: &ResendReply{Instance: "n2-reborn", Latest: huge}})
	checkLog(t, effs, 1)
	if rej := h.n.Status().Counters.Rejected[reasonSequenceImplausible]; rej != 1 {
		t.Fatalf("implausible=%d, want 1", rej)
	}
}

// A source too old to say its latest number (0) cannot refute it: the
// message is taken.
func TestAVouchAnsweredWithLatestZeroTakesTheMessage(t *testing.T) {
	h := repairHarness(t)
	h.pushHuge(0)
	effs := h.vouchAnswer(t, h.advance(0), 0)
	checkLog(t, effs, 1, "msg t#1 m1125899906842624")
}

// A number needing a vouch that arrives while a hole's resend is out is
// not asked about until that resend answers (one call per stream).
func TestAVouchWaitsForTheStreamsOutstandingResend(t *testing.T) {
	h := repairHarness(t)
	checkLog(t, h.pushSeqs(1, 3), 1, "msg t#1 m1")
	repair := only[*RequestResend](t, h.advance(h.n.cfg.RepairDelay))
	h.pushHuge(3)
	if n := countResends(h.advance(time.Millisecond)); n != 0 {
		t.Fatalf("asked %d more times while a resend was out", n)
	}
	h.step(&ResendCompleted{Call: repair.Call, Reply: &ResendReply{Instance: "n2", Msgs: []Envelope{h.envFrom("n2", "t", 2)}, Latest: 3}})
	req := only[*RequestResend](t, h.advance(0))
	if req.From != huge || req.To != huge {
		t.Fatalf("asked %s, want the vouch for #%d", resendLine(req), huge)
	}
}

// A vouch starts with a full RepairAttempts, whatever tries a hole on the
// stream used before; once refused, the hole that waited is asked for
// again.
func TestAVouchGetsEveryTryAndTheHoleIsAskedForAfter(t *testing.T) {
	h := repairHarness(t, quickRepair)
	checkLog(t, h.pushSeqs(1, 3), 1, "msg t#1 m1")
	r := only[*RequestResend](t, h.advance(h.n.cfg.RepairDelay))
	h.step(&ResendCompleted{Call: r.Call, Err: errTest}) // the hole used a try
	h.pushHuge(3)
	asked := 0
	for range h.n.cfg.RepairAttempts + 2 {
		effs := h.advance(h.n.cfg.RepairMaxDelay)
		for _, r := range of[*RequestResend](effs) {
			if r.From != huge {
				t.Fatalf("asked %s while vouching", resendLine(r))
			}
			asked++
			h.step(&ResendCompleted{Call: r.Call, Err: errTest})
		}
		if h.n.Status().Counters.Rejected[reasonSequenceImplausible] == 1 {
			break
		}
	}
	if asked != h.n.cfg.RepairAttempts {
		t.Fatalf("asked to vouch %d times, want %d", asked, h.n.cfg.RepairAttempts)
	}
	req := only[*RequestResend](t, h.advance(h.n.cfg.RepairDelay))
	if req.From != 2 || req.To != 2 {
		t.Fatalf("asked %s after the vouch, want the hole #2", resendLine(req))
	}
}

// A resend answer refuses only the held messages it could speak for:
// one held after the request was made is kept, whatever its number.
func TestAResendAnswerRefusesOnlyWhatWasHeldWhenAsked(t *testing.T) {
	h := repairHarness(t)
	checkLog(t, h.pushSeqs(1, 5), 1, "msg t#1 m1")
	r := only[*RequestResend](t, h.advance(h.n.cfg.RepairDelay))
	h.pushSeqs(7) // held after the request
	msgs := []Envelope{h.envFrom("n2", "t", 2), h.envFrom("n2", "t", 3), h.envFrom("n2", "t", 4)}
	effs := h.step(&ResendCompleted{Call: r.Call, Reply: &ResendReply{Instance: "n2", Msgs: msgs, Latest: 4}})
	checkLog(t, effs, 1, "msg t#2 m2", "msg t#3 m3", "msg t#4 m4")
	st := h.n.Status()
	if rej := st.Counters.Rejected[reasonSequenceImplausible]; rej != 1 || st.Held != 1 {
		t.Fatalf("implausible=%d held=%d, want 1 (#5), 1 (#7)", rej, st.Held)
	}
}
