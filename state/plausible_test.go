package state

import (
	"testing"
	"time"
)

// Plausibility of what peers send (plausible.go, retained.go): a number
// its source never issued cannot wedge a stream, and a retained value
// stamped far ahead of its source's clock cannot win every later write.

const huge = uint64(1) << 50

// vouchAnswer answers the request asking n2 to vouch for a number.
func (h *harness) vouchAnswer(t *testing.T, effs []Effect, latest uint64) []Effect {
	t.Helper()
	req := only[*RequestResend](t, effs)
	if req.From != req.To {
		t.Fatalf("asked %s#%d..%d, want one number vouched for", req.Topic, req.From, req.To)
	}
	return h.step(&ResendCompleted{Call: req.Call, Reply: &ResendReply{Instance: "n2", Latest: latest}})
}

// A number far beyond the stream's last waits, with what follows it, until
// the source says it never issued it: then it is refused and counted, and
// the real messages flow with no gap.
func TestANumberItsSourceNeverIssuedIsRefusedAndTheFlowGoesOn(t *testing.T) {
	h := repairHarness(t)
	checkLog(t, h.pushSeqs(1, 2), 1, "msg t#1 m1", "msg t#2 m2")
	forged := h.envFrom("n2", "t", huge)
	forged.PrevSeq = 2 // it even claims to follow on
	effs := h.pushFrom("n2", forged)
	checkLog(t, effs, 1)
	checkLog(t, h.pushSeqs(3), 1) // waits behind the number being vouched for
	effs = h.vouchAnswer(t, h.advance(time.Millisecond), 3)
	checkLog(t, effs, 1, "msg t#3 m3")
	checkLog(t, h.pushSeqs(4), 1, "msg t#4 m4")
	st := h.n.Status()
	if st.Counters.Rejected[reasonSequenceImplausible] != 1 || st.Counters.Gaps != 0 || st.Held != 0 {
		t.Fatalf("implausible=%d gaps=%d held=%d, want 1, 0, 0", st.Counters.Rejected[reasonSequenceImplausible], st.Counters.Gaps, st.Held)
	}
}

// A real big jump (a subscriber back on a busy topic after long away) is
// vouched for and delivered, one round trip late.
func TestARealBigJumpIsVouchedForAndDelivered(t *testing.T) {
	for _, first := range []bool{true, false} {
		h := repairHarness(t)
		if !first {
			checkLog(t, h.pushSeqs(1), 1, "msg t#1 m1")
		}
		env := h.envFrom("n2", "t", huge)
		env.PrevSeq = 0 // the first it sends us
		if !first {
			env.PrevSeq = 1 // the first since #1 it sends us, after a long time
		}
		checkLog(t, h.pushFrom("n2", env), 1)
		effs := h.vouchAnswer(t, h.advance(time.Millisecond), huge+5)
		seq := "1"
		if !first {
			seq = "2"
		}
		checkLog(t, effs, 1, "msg t#"+seq+" m1125899906842624")
		if rej := h.n.Status().Counters.Rejected[reasonSequenceImplausible]; rej != 0 {
			t.Fatalf("a real number was refused (%d)", rej)
		}
	}
}

// A resend answer says the highest number the source issued: no gap is
// declared beyond it, and a held message that claims more is refused.
func TestResendAnswerBoundsTheGapByTheSourcesLatestNumber(t *testing.T) {
	h := repairHarness(t)
	checkLog(t, h.pushSeqs(1), 1, "msg t#1 m1")
	forged := h.envFrom("n2", "t", 1000) // a small jump: it opens a hole
	forged.PrevSeq = 0
	checkLog(t, h.pushFrom("n2", forged), 1)
	req := only[*RequestResend](t, h.advance(time.Second))
	effs := h.step(&ResendCompleted{Call: req.Call, Reply: &ResendReply{Instance: "n2", Msgs: []Envelope{h.envFrom("n2", "t", 2)}, Latest: 2}})
	checkLog(t, effs, 1, "msg t#2 m2")
	if g := of[*ReportGap](effs); len(g) != 0 {
		t.Fatalf("declared %s", g[0])
	}
	checkLog(t, h.pushSeqs(3), 1, "msg t#3 m3")
}

// A retained value stamped further ahead of its source's clock than
// MaxClockSkew is refused and counted, so a later real write still wins;
// a source whose clock simply runs ahead (its beacons show it) is taken.
func TestRetainedStampFarAheadOfItsSourcesClockIsRefused(t *testing.T) {
	h := repairHarness(t)
	evil := h.envFrom("n2", "cfg", 1)
	evil.Retain, evil.TimestampMs = true, 9_000_000_000_000_000_000
	h.req++
	a := only[*AnswerPush](t, h.step(&PushReceived{Req: h.req, From: "n2:5671", Envs: []Envelope{evil}}))
	if len(a.Errs) != 1 || CodeOf(a.Errs[0]) != Invalid {
		t.Fatalf("a retained value from the far future answered %v, want refused", a.Errs)
	}
	if h.n.Retained("cfg") != nil || h.n.Status().Counters.Rejected[reasonRetainedFuture] != 1 {
		t.Fatal("the future value was stored, or not counted")
	}
	// n3's clock runs an hour ahead, as its beacons show: its values are
	// taken everywhere alike.
	hour := time.Hour.Milliseconds()
	h.step(&BeaconReceived{Beacon: Beacon{Instance: "n3", Cluster: "test", Addr: "n3:5671", Version: 1, WallMs: h.now.WallMs + hour}})
	ahead := h.envFrom("n3", "cfg", 1)
	ahead.Retain, ahead.TimestampMs = true, h.now.WallMs+hour
	h.pushFrom("n3", ahead)
	if m := h.n.Retained("cfg"); m == nil || m.Source != "n3" {
		t.Fatal("a value from a source whose clock runs ahead was refused")
	}
	// Its clock is set right again: what it stamped before is still taken
	// (a peer that missed it gets it from another's state, judged alike).
	h.step(&BeaconReceived{Beacon: Beacon{Instance: "n3", Cluster: "test", Addr: "n3:5671", Version: 1, WallMs: h.now.WallMs}})
	if h.n.checkStamp(&ahead) != nil {
		t.Fatal("a source's clock stepping back turned its earlier stamps into the future")
	}
}

// A source whose clock just stepped forward pushes a retained value before
// its next beacon: the push carries the time it was sent, so the value is
// judged by the source's clock as it is, not as its last beacon showed it.
func TestRetainedStampIsJudgedByTheSendersClockAtThePush(t *testing.T) {
	h := repairHarness(t)
	hour := time.Hour.Milliseconds()
	v := h.envFrom("n2", "cfg", 1)
	v.Retain, v.TimestampMs = true, h.now.WallMs+hour
	h.req++
	a := only[*AnswerPush](t, h.step(&PushReceived{Req: h.req, From: "n2:5671", Envs: []Envelope{v}, SentAtMs: h.now.WallMs + hour}))
	if a.Errs != nil {
		t.Fatalf("refused %v", a.Errs)
	}
	if m := h.n.Retained("cfg"); m == nil {
		t.Fatal("the value was not stored")
	}
}
