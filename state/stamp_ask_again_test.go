package state

import (
	"errors"
	"testing"
	"time"
)

// A source asked to vouch for a retained stamp whose call fails without an
// answer (a partition, a timeout) is asked again, up to stampAsks times,
// and the value is stored once an answer vouches for it; only when every
// ask failed is it refused. Refused on the first failure, it stayed on the
// nodes that took it and off this one for good (swarm seed 9509, shape
// heavy,mcast-loss=0.7,reorder=0.5).
func TestAVouchThatGetsNoAnswerIsAskedAgain(t *testing.T) {
	h := repairHarness(t)
	v := h.envFrom("n2", "cfg", 1)
	v.Retain, v.TimestampMs = true, h.now.WallMs+time.Hour.Milliseconds()
	req := only[*RequestResend](t, h.pushFrom("n2", v))
	for range stampAsks - 1 {
		again := of[*RequestResend](h.step(&ResendCompleted{Call: req.Call, Err: errors.New("deadline exceeded")}))
		if len(again) != 1 || again[0].Peer != "n2" || again[0].From != 1 || again[0].To != 1 || h.n.Retained("cfg") != nil {
			t.Fatalf("after a failed ask: %d asks again, stored %v; want n2 asked for cfg#1 again, nothing stored", len(again), h.n.Retained("cfg"))
		}
		req = again[0]
	}
	h.step(&ResendCompleted{Call: req.Call, Reply: &ResendReply{Instance: "n2", Msgs: []Envelope{v}, Latest: 1}})
	if m := h.n.Retained("cfg"); m == nil || m.ID != v.ID {
		t.Fatal("not stored once vouched for after failed asks")
	}

	w := h.envFrom("n2", "cfg", 2)
	w.Retain, w.TimestampMs = true, h.now.WallMs+2*time.Hour.Milliseconds()
	req = only[*RequestResend](t, h.pushFrom("n2", w))
	for range stampAsks - 1 {
		req = only[*RequestResend](t, h.step(&ResendCompleted{Call: req.Call, Err: errors.New("deadline exceeded")}))
	}
	if effs := h.step(&ResendCompleted{Call: req.Call, Err: errors.New("deadline exceeded")}); len(of[*RequestResend](effs)) != 0 {
		t.Fatalf("asked a %dth time", stampAsks+1)
	}
	if m := h.n.Retained("cfg"); m == nil || m.ID != v.ID || h.n.Status().Counters.Rejected[reasonRetainedFuture] != 1 {
		t.Fatalf("after %d failed asks: stored %v, %d refused; want the vouched value kept, one refused", stampAsks, h.n.Retained("cfg"), h.n.Status().Counters.Rejected[reasonRetainedFuture])
	}
}
